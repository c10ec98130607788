"""Durable work queue: jobs live in rows so that a crash loses nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import Base, JSONType, UTCDateTime, created_at, pk, updated_at


class Job(Base):
    """A unit of queued work, run by ``siyu.worker`` (ADR 0006).

    Handlers are declared by domains (``siyu.kit.ops.job_handler``). Short jobs are
    claimed in batches with SKIP LOCKED on PostgreSQL and run, completed and committed
    in the claiming transaction; long jobs (imports, recomputes, WeCom calls) are
    claimed with a lease that a live worker's heartbeat keeps.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        # Only queued rows are claimed: done rows (the vast majority) stay out of it.
        Index(
            "ix_jobs_due",
            "run_after",
            "id",
            sqlite_where=text("status = 'queued'"),
            postgresql_where=text("status = 'queued'"),
        ),
        Index("ix_jobs_status_kind", "status", "kind"),
        UniqueConstraint("dedup_key"),
    )

    id: Mapped[int] = pk()
    workspace_id: Mapped[int | None] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    # queued | running | done | failed | cancelled
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    # Enqueueing the same key twice is a no-op (an SOP step per customer, a send ...).
    dedup_key: Mapped[str | None] = mapped_column(String(160))
    run_after: Mapped[datetime] = created_at()
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=5)
    locked_by: Mapped[str | None] = mapped_column(String(64))
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PeriodicTask(Base):
    """When a domain's periodic task runs next, and how its last run went.

    One row per declared task. A worker runs a task only after moving ``next_run_at``
    forward with a conditional UPDATE, so with several workers each tick runs once.
    """

    __tablename__ = "periodic_tasks"

    name: Mapped[str] = mapped_column(String(96), primary_key=True)
    next_run_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # ok | error
    last_status: Mapped[str | None] = mapped_column(String(16))
    last_result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = updated_at()


class WorkerHeartbeat(Base):
    """A live job runner: its long jobs' leases hold while it beats."""

    __tablename__ = "worker_heartbeats"

    worker_id: Mapped[str] = mapped_column(String(96), primary_key=True)
    started_at: Mapped[datetime] = created_at()
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

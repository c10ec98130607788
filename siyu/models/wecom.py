"""WeCom integration state: the callback inbox, behaviour stats, sync cursors."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import Base, JSONType, UTCDateTime, created_at, fk, pk, workspace_fk


class WeComCallback(Base):
    """A verified, decrypted callback, stored before it is processed (the inbox).

    ``dedup_key`` makes WeCom's retries and repeats a no-op. A crash between accept and
    processing leaves the row ``pending``; the worker picks it up again.
    """

    __tablename__ = "wecom_callbacks"
    __table_args__ = (UniqueConstraint("workspace_id", "dedup_key"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    dedup_key: Mapped[str] = mapped_column(String(128), nullable=False)
    msg_type: Mapped[str | None] = mapped_column(String(32))
    event: Mapped[str | None] = mapped_column(String(64))
    change_type: Mapped[str | None] = mapped_column(String(64))
    create_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    # pending | processed | failed | ignored
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = created_at()
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StaffDailyStats(Base):
    """WeCom's own get_user_behavior_data, mirrored per staff per day (theirs, not ours)."""

    __tablename__ = "staff_daily_stats"
    __table_args__ = (UniqueConstraint("staff_id", "day"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk()
    staff_id: Mapped[int] = fk("staff.id", index=False)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    chat_cnt: Mapped[int | None] = mapped_column(Integer)
    message_cnt: Mapped[int | None] = mapped_column(Integer)
    reply_percentage: Mapped[float | None] = mapped_column(Float)
    avg_reply_time: Mapped[float | None] = mapped_column(Float)
    negative_feedback_cnt: Mapped[int | None] = mapped_column(Integer)
    new_apply_cnt: Mapped[int | None] = mapped_column(Integer)
    new_contact_cnt: Mapped[int | None] = mapped_column(Integer)
    fetched_at: Mapped[datetime] = created_at()


class SyncRun(Base):
    """A WeCom sync (full, incremental or reconciliation) and what it changed."""

    __tablename__ = "sync_runs"

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk()
    # full | reconcile | behavior
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    # running | completed | failed
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="running")
    started_at: Mapped[datetime] = created_at()
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    counts: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    error: Mapped[str | None] = mapped_column(Text)

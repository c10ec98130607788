"""Frontline staff tasks: what each staff account should do, and whether it was done."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import Base, JSONType, UTCDateTime, created_at, fk, pk, updated_at, workspace_fk


class StaffTask(Base):
    """One task for one staff account, usually about one customer or group.

    ``kind`` says where it came from (``reply_sla``, ``greet``, ``sop_step``,
    ``coverage``, ``wakeup``, ``post_purchase``, ``churn``, ``lead_add``,
    ``matrix_duplicate``, ``send_confirm``, ``moment_publish``, ``manual`` ...);
    ``source`` / ``source_ref`` point at the row that made it (a plan step, a send).
    ``status``: ``open`` | ``done`` | ``cancelled``; ``done_how``: ``detected`` (siyu saw
    it in the data), ``self_reported`` (staff said so where no API can see it),
    ``operator``. ``dedup_key`` makes creation idempotent.
    """

    __tablename__ = "staff_tasks"
    __table_args__ = (
        UniqueConstraint("workspace_id", "dedup_key"),
        Index(
            "ix_staff_tasks_workspace_id_staff_id_status_due_at",
            "workspace_id",
            "staff_id",
            "status",
            "due_at",
        ),
        Index("ix_staff_tasks_customer_id_status", "customer_id", "status"),
    )

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    staff_id: Mapped[int | None] = fk("staff.id", nullable=True, ondelete="SET NULL", index=False)
    customer_id: Mapped[int | None] = fk("customers.id", nullable=True, ondelete="CASCADE", index=False)
    group_id: Mapped[int | None] = fk("groups.id", nullable=True, ondelete="CASCADE")
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str | None] = mapped_column(Text)
    content_id: Mapped[int | None] = fk("content_items.id", nullable=True, ondelete="SET NULL", index=False)
    priority: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=2)  # 1 high, 2 normal, 3 low
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open")
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_how: Mapped[str | None] = mapped_column(String(16))
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(32), nullable=False, default="manual")
    source_ref: Mapped[str | None] = mapped_column(String(64))
    dedup_key: Mapped[str | None] = mapped_column(String(200))
    extra: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()

"""Moments (客户朋友圈): the calendar of planned moments, who published, who reacted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import Base, JSONType, UTCDateTime, created_at, fk, pk, updated_at, workspace_fk


class Moment(Base):
    """One moment: planned in siyu (``origin`` ``plan``) or seen in WeCom (``personal``:
    a staff member posted it in their own client; ``corp``: a task made elsewhere).

    A planned moment goes ``planned`` → ``creating`` (the add_moment_task call is under
    way) → ``created`` (WeCom gave a job id) → ``ready`` (the job gave a moment id; staff
    now publish it in their client) or ``failed``; ``cancelled`` before it was created.
    ``attachments``: ``[{"kind": "image"|"video"|"link", "content_id"?, "path"?, "url"?,
    "title"?, "name"?, "size"?}]``; ``visible_tag_ids``: siyu tag ids (corp tags with a
    WeCom id) that limit who sees it; empty = every friend of the senders.
    """

    __tablename__ = "moments"
    __table_args__ = (
        UniqueConstraint("workspace_id", "wecom_moment_id"),
        Index("ix_moments_workspace_id_status_planned_at", "workspace_id", "status", "planned_at"),
    )

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    origin: Mapped[str] = mapped_column(String(16), nullable=False, default="plan")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="planned")
    planned_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False, default="")
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, nullable=False, default=list)
    content_id: Mapped[int | None] = fk("content_items.id", nullable=True, ondelete="SET NULL", index=False)
    visible_tag_ids: Mapped[list[int]] = mapped_column(JSONType, nullable=False, default=list)
    wecom_jobid: Mapped[str | None] = mapped_column(String(64))
    wecom_moment_id: Mapped[str | None] = mapped_column(String(64))
    # When siyu called add_moment_task (the 10-a-minute limit counts these).
    called_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    error: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(128), nullable=False, default="system")
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class MomentSender(Base):
    """One staff account's copy of a moment: whether and when they published it.

    ``status``: ``waiting`` (siyu has not created the task yet), ``unpublished``,
    ``published``, ``invalid`` (WeCom refused the sender). ``reminded_at``: when siyu
    gave the staff member a ``moment_publish`` task.
    """

    __tablename__ = "moment_senders"
    __table_args__ = (
        UniqueConstraint("moment_id", "staff_id"),
        Index(
            "ix_moment_senders_workspace_id_staff_id_published_at", "workspace_id", "staff_id", "published_at"
        ),
    )

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    moment_id: Mapped[int] = fk("moments.id", index=False)
    staff_id: Mapped[int] = fk("staff.id", index=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="waiting")
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = updated_at()


class MomentInteraction(Base):
    """A customer liked or commented on a staff account's moment, and when.

    The shared record of moments interactions (insights reads it for the interaction
    rate): ``kind`` ``like`` | ``comment``; ``occurred_at`` is WeCom's create_time.
    WeCom gives no comment text, so none is stored.
    """

    __tablename__ = "moment_interactions"
    __table_args__ = (
        UniqueConstraint("moment_id", "staff_id", "customer_id", "kind", "occurred_at"),
        Index("ix_moment_interactions_workspace_id_occurred_at", "workspace_id", "occurred_at"),
        Index("ix_moment_interactions_customer_id_occurred_at", "customer_id", "occurred_at"),
        Index("ix_moment_interactions_staff_id_occurred_at", "staff_id", "occurred_at"),
    )

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    moment_id: Mapped[int] = fk("moments.id", index=False)
    staff_id: Mapped[int] = fk("staff.id", index=False)
    customer_id: Mapped[int] = fk("customers.id", index=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_at: Mapped[datetime] = created_at()

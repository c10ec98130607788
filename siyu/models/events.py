"""The append-only interaction log every metric is computed from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import Base, JSONType, UTCDateTime, created_at, fk, pk, workspace_fk


class Event(Base):
    """Something that happened: a message, a friend add/delete, a group join, an order.

    Kinds (dotted): ``message.in``, ``message.out``, ``friend.request``, ``friend.add``,
    ``friend.delete_by_customer``, ``friend.delete_by_staff``, ``friend.transfer``,
    ``group.create``, ``group.join``, ``group.quit``, ``group.dismiss``, ``tag.add``,
    ``tag.remove``, ``moment.like``, ``moment.comment``, ``order.paid``,
    ``order.refunded``, ``order.completed``... Rows are never updated.
    """

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_workspace_id_kind_occurred_at", "workspace_id", "kind", "occurred_at"),
        Index("ix_events_customer_id_occurred_at", "customer_id", "occurred_at"),
        # Most events have no staff, group or order (an order event has no staff or
        # group; a message has no order): partial indexes hold only the rows that do,
        # and ``col = value`` (foreign-key actions included) still uses them.
        Index(
            "ix_events_staff_id_occurred_at",
            "staff_id",
            "occurred_at",
            sqlite_where=text("staff_id IS NOT NULL"),
            postgresql_where=text("staff_id IS NOT NULL"),
        ),
        Index(
            "ix_events_group_id",
            "group_id",
            sqlite_where=text("group_id IS NOT NULL"),
            postgresql_where=text("group_id IS NOT NULL"),
        ),
        Index(
            "ix_events_order_id",
            "order_id",
            sqlite_where=text("order_id IS NOT NULL"),
            postgresql_where=text("order_id IS NOT NULL"),
        ),
        UniqueConstraint("workspace_id", "dedup_key"),
    )

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    kind: Mapped[str] = mapped_column(String(48), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    customer_id: Mapped[int | None] = fk("customers.id", nullable=True, ondelete="SET NULL", index=False)
    staff_id: Mapped[int | None] = fk("staff.id", nullable=True, ondelete="SET NULL", index=False)
    group_id: Mapped[int | None] = fk("groups.id", nullable=True, ondelete="SET NULL", index=False)
    order_id: Mapped[int | None] = fk("orders.id", nullable=True, ondelete="SET NULL", index=False)
    # wecom | import | console | api | system | simulator
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    # Makes replays a no-op: unique per workspace when set.
    dedup_key: Mapped[str | None] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    created_at: Mapped[datetime] = created_at()

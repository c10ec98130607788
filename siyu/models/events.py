"""The append-only interaction log every metric is computed from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from siyu.models.base import Base, JSONType, UTCDateTime, created_at, fk, pk, updated_at, workspace_fk


class current_txid(FunctionElement[int]):
    """The writing transaction's id on PostgreSQL (``txid_current()``); NULL elsewhere.

    Used as the SQL default of ``events.txid``, so every insert path (ORM, Core bulk
    inserts) stamps it without a round trip. Event delivery reads an event only once no
    transaction at or below its txid is in flight, so an event committed late under a
    lower id is never skipped (SQLite has one writer: ids follow commit order there).
    """

    type = BigInteger()
    inherit_cache = True


@compiles(current_txid)
def _txid_default(_element: current_txid, _compiler: SQLCompiler, **_kw: object) -> str:
    return "NULL"


@compiles(current_txid, "postgresql")
def _txid_pg(_element: current_txid, _compiler: SQLCompiler, **_kw: object) -> str:
    return "txid_current()"


class Event(Base):
    """Something that happened: a message, a friend add/delete, a group join, an order.

    Kinds (dotted): ``message.in``, ``message.out``, ``friend.request``, ``friend.add``,
    ``friend.delete_by_customer``, ``friend.delete_by_staff``, ``friend.transfer``,
    ``group.create``, ``group.join``, ``group.quit``, ``group.dismiss``, ``tag.add``,
    ``tag.remove``, ``tag.changed`` (any change of customer tags, batch: ``customer_ids`` in
    the payload), ``moment.like``, ``moment.comment``, ``order.paid``,
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
        # Delivery order on PostgreSQL; NULL on SQLite, where the partial index stays empty.
        Index(
            "ix_events_txid_id",
            "txid",
            "id",
            sqlite_where=text("txid IS NOT NULL"),
            postgresql_where=text("txid IS NOT NULL"),
        ),
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
    # The writing transaction (PostgreSQL): see current_txid. Never set by hand.
    txid: Mapped[int | None] = mapped_column(BigInteger, default=current_txid())


class EventSubscription(Base):
    """A subscriber's position in the event log (transactional outbox, ADR 0006).

    A subscriber (declared by a domain with ``siyu.kit.ops.subscriber``) has read every
    event of its kinds up to ``(txid, event_id)``. The position moves in the same
    transaction as the handler's writes, so a crash re-delivers, and a handler that
    writes only through the session it is given changes nothing twice.
    """

    __tablename__ = "event_subscriptions"

    name: Mapped[str] = mapped_column(String(96), primary_key=True)
    txid: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    event_id: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    delivered: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    # Consecutive failures of the batch at the position; the event is parked after
    # max attempts (a failed job of kind events.redeliver) and the position moves on.
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    retry_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = updated_at()

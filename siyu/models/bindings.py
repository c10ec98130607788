"""Order binding (包裹卡): a WeCom friend claims an imported order, joining them to its buyer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import Base, UTCDateTime, created_at, fk, pk, workspace_fk


class OrderBinding(Base):
    """One order claimed by a friend (through the binding page, or by an operator).

    ``customer_id`` is the OneID profile the order and the friend share afterwards;
    ``state`` the channel of the friend's follow (the parcel card's live code).
    """

    __tablename__ = "order_bindings"
    __table_args__ = (
        UniqueConstraint("workspace_id", "order_id"),
        Index("ix_order_bindings_workspace_id_created_at", "workspace_id", "created_at"),
    )

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    order_id: Mapped[int] = fk("orders.id", index=False)
    customer_id: Mapped[int] = fk("customers.id")
    follow_id: Mapped[int | None] = fk("follows.id", nullable=True, ondelete="SET NULL", index=False)
    state: Mapped[str | None] = mapped_column(String(64))
    # page | operator | sidebar | demo
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="page")
    actor: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at()


class BindingAttempt(Base):
    """One try on the binding page (a few failures in a row pause the friend for a while)."""

    __tablename__ = "binding_attempts"
    __table_args__ = (
        Index("ix_binding_attempts_workspace_id_follow_id_at", "workspace_id", "follow_id", "at"),
    )

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    follow_id: Mapped[int] = fk("follows.id", index=False)
    ok: Mapped[bool] = mapped_column(Boolean, nullable=False)
    # why a try failed: order_no | last4 | claimed
    reason: Mapped[str | None] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

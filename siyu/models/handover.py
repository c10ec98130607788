"""Staff changes (在职继承 / 离职继承): customer and group transfers, and who owned a customer when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import Base, UTCDateTime, created_at, fk, pk, updated_at, workspace_fk


class CustomerTransfer(Base):
    """One customer handed from one staff account to another through WeCom.

    ``kind``: ``onjob`` (``transfer_customer``, the handover still employed) or
    ``resigned`` (``resigned/transfer_customer``). ``status``: ``queued`` (not yet sent),
    ``waiting`` (WeCom accepted it; the customer has 24 hours to refuse), ``done``,
    ``refused`` (by the customer), ``receiver_full`` (the takeover reached its customer
    limit), ``none`` (WeCom has no record), ``failed`` (WeCom refused the call: ``errcode``
    and ``error`` say why).
    """

    __tablename__ = "customer_transfers"
    __table_args__ = (
        Index("ix_customer_transfers_workspace_id_batch", "workspace_id", "batch"),
        Index("ix_customer_transfers_workspace_id_customer_id", "workspace_id", "customer_id"),
    )

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    batch: Mapped[str] = mapped_column(String(32), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    handover_staff_id: Mapped[int] = fk("staff.id")
    takeover_staff_id: Mapped[int] = fk("staff.id")
    customer_id: Mapped[int] = fk("customers.id", index=False)
    external_userid: Mapped[str] = mapped_column(String(128), nullable=False)
    message: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    errcode: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(300))
    # by hand | least_loaded | same_team
    rule: Mapped[str] = mapped_column(String(16), nullable=False, default="hand")
    actor: Mapped[str | None] = mapped_column(String(64))
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class GroupTransfer(Base):
    """One customer group handed to a new owner (``groupchat/transfer`` or ``onjob_transfer``)."""

    __tablename__ = "group_transfers"
    __table_args__ = (Index("ix_group_transfers_workspace_id_batch", "workspace_id", "batch"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    batch: Mapped[str] = mapped_column(String(32), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    group_id: Mapped[int] = fk("groups.id")
    chat_id: Mapped[str] = mapped_column(String(128), nullable=False)
    from_staff_id: Mapped[int] = fk("staff.id")
    to_staff_id: Mapped[int] = fk("staff.id")
    # queued | done | failed
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    errcode: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(300))
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_at()


class CustomerOwnership(Base):
    """A period in which a staff account owned a customer (reports credit each period to its owner).

    Opened from the follow's add when the customer is first transferred, closed and
    reopened for the takeover when a transfer is done. ``ended_at`` NULL: still owned.
    """

    __tablename__ = "customer_ownership"
    __table_args__ = (
        Index(
            "ix_customer_ownership_workspace_id_customer_id_started_at",
            "workspace_id",
            "customer_id",
            "started_at",
        ),
    )

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    customer_id: Mapped[int] = fk("customers.id", index=False)
    staff_id: Mapped[int] = fk("staff.id")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # add | transfer | resigned
    reason: Mapped[str] = mapped_column(String(16), nullable=False)
    transfer_id: Mapped[int | None] = fk(
        "customer_transfers.id", nullable=True, ondelete="SET NULL", index=False
    )

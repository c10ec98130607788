"""Outbound mass sends (群发): a send, its frozen recipients, its WeCom calls, receipts, link opens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import (
    Base,
    BigIntPK,
    JSONType,
    UTCDateTime,
    created_at,
    fk,
    pk,
    updated_at,
    workspace_fk,
)


class Send(Base):
    """One mass send to customers (``kind=customer``) or groups (``kind=group``).

    ``status``: draft → (pending_approval →) scheduled → planned → delivering → waiting
    (staff confirm in their client) → settled; or cancelled / failed. The audience is an
    expression (``audience``) or a saved segment (``segment_id``), frozen at
    ``planned_at`` into ``send_recipients``. ``counts`` keeps the planning report
    (audience, removed per reason, holdout, targeted, WeCom calls).
    """

    __tablename__ = "sends"
    __table_args__ = (Index("ix_sends_workspace_id_status", "workspace_id", "status"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="customer")
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    # The message: a text (variables filled per staff account) and library attachments.
    text: Mapped[str | None] = mapped_column(Text)
    content_ids: Mapped[list[int]] = mapped_column(JSONType, nullable=False, default=list)
    audience: Mapped[str | None] = mapped_column(Text)
    segment_id: Mapped[int | None] = fk("segments.id", nullable=True, ondelete="SET NULL", index=False)
    # Group sends: chosen chat ids, or a filter {"owner": [userids], "name_contains": ...}
    group_filter: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    # The named sender (staff id): customers who are their friend get it from them.
    sender_staff_id: Mapped[int | None] = fk("staff.id", nullable=True, ondelete="SET NULL", index=False)
    holdout_pct: Mapped[int] = mapped_column(Integer, nullable=False, default=10)
    holdout_seed: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    status: Mapped[str] = mapped_column(String(24), nullable=False, default="draft")
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # daily | weekly | None; the next occurrence is created when this one is planned
    recurrence: Mapped[str | None] = mapped_column(String(16))
    recurrence_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    parent_id: Mapped[int | None] = fk("sends.id", nullable=True, ondelete="SET NULL", index=False)
    planned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    counts: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False, default="system")
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class SendBatch(Base):
    """One ``add_msg_template`` call: one staff account, ≤ 10,000 customers (≤ 2,000 groups).

    ``state``: planned → calling (intent stored, the call may have reached WeCom) →
    created (``msgid`` known) → sent (the staff confirmed) / cancelled; failed when
    WeCom refused it. A ``calling`` batch is looked up in WeCom before any new call.
    """

    __tablename__ = "send_batches"
    __table_args__ = (
        UniqueConstraint("send_id", "seq"),
        Index("ix_send_batches_workspace_id_state", "workspace_id", "state"),
    )

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    send_id: Mapped[int] = fk("sends.id", index=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    staff_id: Mapped[int] = fk("staff.id", index=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="planned")
    msgid: Mapped[str | None] = mapped_column(String(128), index=True)
    calling_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    fail_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminds: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class SendRecipient(Base):
    """One customer (or group) of the frozen audience and what became of it.

    ``arm``: target | holdout | removed (``reason``: opt_out, no_friend, freq_cap,
    wecom_quota). ``status`` for the target arm: pending → sent | not_friend | quota |
    unconfirmed (settled without the staff confirming) | cancelled.
    """

    __tablename__ = "send_recipients"
    # Two indexes only: a million rows are written per large send. (send, arm, batch)
    # serves delivery, results and the lift; (workspace, customer, time) the cap and
    # quota counts.
    __table_args__ = (
        Index("ix_send_recipients_send_id_arm_batch_seq", "send_id", "arm", "batch_seq"),
        Index(
            "ix_send_recipients_workspace_id_customer_id_created_at",
            "workspace_id",
            "customer_id",
            "created_at",
        ),
    )

    id: Mapped[int] = pk()
    # No foreign keys (ADR 0008): on PostgreSQL each costs a trigger call per inserted
    # row, ~3 of the ~10 CPU seconds of writing a 1,000,000-customer plan. The send
    # implies the workspace; only the planners write rows, for the send they hold; the
    # cascade when a send (or its workspace) is deleted is the trigger below.
    workspace_id: Mapped[int] = mapped_column(BigIntPK, nullable=False)
    send_id: Mapped[int] = mapped_column(BigIntPK, nullable=False)
    customer_id: Mapped[int | None] = mapped_column(BigIntPK)
    group_id: Mapped[int | None] = mapped_column(BigIntPK)
    staff_id: Mapped[int | None] = mapped_column(BigIntPK)
    # external_userid, or a group's chat_id
    target: Mapped[str | None] = mapped_column(String(128))
    arm: Mapped[str] = mapped_column(String(8), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(16))
    batch_seq: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str | None] = mapped_column(String(16))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_at()


# Deleting a send deletes its recipients, as ``ON DELETE CASCADE`` did (a workspace's
# deletion cascades to its sends, so to their recipients too). Run after the tables are
# created: migration 0001 carries them (``scripts/regen_initial_migration.py`` appends
# every entry of ``siyu.models.TRIGGERS``).
SEND_RECIPIENTS_CASCADE = {
    "postgresql": (
        "CREATE OR REPLACE FUNCTION sends_delete_recipients() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN DELETE FROM send_recipients WHERE send_id = OLD.id; RETURN OLD; END $$",
        "CREATE TRIGGER tr_sends_delete_recipients AFTER DELETE ON sends"
        " FOR EACH ROW EXECUTE FUNCTION sends_delete_recipients()",
    ),
    "sqlite": (
        "CREATE TRIGGER tr_sends_delete_recipients AFTER DELETE ON sends FOR EACH ROW"
        " BEGIN DELETE FROM send_recipients WHERE send_id = OLD.id; END",
    ),
}


class MassReceipt(Base):
    """A mass message a customer received that siyu did not send (staff-created, console).

    Pulled through ``get_groupmsg_list_v2`` for all creators; with siyu's own sends it
    counts against WeCom's per-customer quota and the brand's frequency cap.
    """

    __tablename__ = "mass_receipts"
    __table_args__ = (
        UniqueConstraint("workspace_id", "msgid", "external_userid"),
        Index("ix_mass_receipts_customer_id_sent_at", "customer_id", "sent_at"),
    )

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    msgid: Mapped[str] = mapped_column(String(128), nullable=False)
    external_userid: Mapped[str] = mapped_column(String(128), nullable=False)
    customer_id: Mapped[int | None] = mapped_column(BigIntPK)
    creator: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_at: Mapped[datetime] = created_at()


class WeComMassMsg(Base):
    """A mass send seen in ``get_groupmsg_list_v2`` (any creator), and when it was last pulled."""

    __tablename__ = "wecom_mass_msgs"
    __table_args__ = (UniqueConstraint("workspace_id", "msgid"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    msgid: Mapped[str] = mapped_column(String(128), nullable=False)
    chat_type: Mapped[str] = mapped_column(String(8), nullable=False, default="single")
    creator: Mapped[str | None] = mapped_column(String(64))
    create_type: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_time: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    ours: Mapped[bool] = mapped_column(nullable=False, default=False)
    pulled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_at()


class TrackedLink(Base):
    """内容雷达: one recipient's siyu landing URL for a link in a send (``token`` in the URL)."""

    __tablename__ = "tracked_links"
    __table_args__ = (UniqueConstraint("token"), Index("ix_tracked_links_send_id", "send_id"))

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk()
    token: Mapped[str] = mapped_column(String(32), nullable=False)
    content_id: Mapped[int] = fk("content_items.id", index=False)
    send_id: Mapped[int | None] = fk("sends.id", nullable=True, ondelete="SET NULL", index=False)
    customer_id: Mapped[int | None] = mapped_column(BigIntPK)
    staff_id: Mapped[int | None] = mapped_column(BigIntPK)
    url: Mapped[str] = mapped_column(String(1000), nullable=False)
    opens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    first_opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    seconds_read: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = created_at()

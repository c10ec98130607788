"""Insights' maintained aggregates (conversations, per staff per day, interactions) and SKU costs.

Everything here is derived from ``messages`` and ``events`` by ``siyu.insights.aggregates``
(rebuildable at any time) except ``sku_costs``, the brand's price list.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import Base, JSONType, UTCDateTime, created_at, fk, pk, updated_at, workspace_fk


class Conversation(Base):
    """A customer-initiated conversation: a customer message after N minutes of silence.

    1:1 (``group_id`` NULL), or in a group (``group_id`` set): the customer @-mentioned the
    staff account there (docs/metrics.md, "group @-mentions").

    ``day`` is the business day of ``started_at`` (workspace zone). ``reply_work_s`` is the
    working time (seconds) from the start to the first staff reply; NULL when no reply came
    within the reply horizon. ``exempt``: every customer message before the reply was a
    closing word ("谢谢", "好的" ...), so the conversation does not count.
    """

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("workspace_id", "staff_id", "customer_id", "group_id", "started_at"),
        Index("ix_conversations_workspace_id_staff_id_day", "workspace_id", "staff_id", "day"),
    )

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    staff_id: Mapped[int] = fk("staff.id", index=False)
    customer_id: Mapped[int] = fk("customers.id", index=False)
    group_id: Mapped[int | None] = fk("groups.id", nullable=True, index=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    first_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reply_work_s: Mapped[int | None] = mapped_column(Integer)
    exempt: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class StaffMetricDay(Base):
    """Reply figures of one staff account on one business day (from ``conversations``).

    ``reply_hist`` counts replies by working-time bucket (``siyu.insights.aggregates.BUCKETS``)
    so that medians and p90 of a month add up from day rows without reading conversations.
    """

    __tablename__ = "staff_metric_days"
    __table_args__ = (UniqueConstraint("workspace_id", "staff_id", "day"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    staff_id: Mapped[int] = fk("staff.id", index=False)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    conversations: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    exempt: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    replied: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    replied_10m: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    unanswered: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    reply_work_s_sum: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    reply_hist: Mapped[list[int]] = mapped_column(JSONType, nullable=False, default=list)
    updated_at: Mapped[datetime] = updated_at()


class InteractionDay(Base):
    """Touches between one staff account and one customer on one business day.

    ``msgs_in`` / ``msgs_out``: 1:1 messages the customer / the staff account wrote;
    ``moments``: the customer liked or commented on the account's moments.
    """

    __tablename__ = "interaction_days"
    __table_args__ = (
        UniqueConstraint("workspace_id", "staff_id", "customer_id", "day"),
        Index("ix_interaction_days_workspace_id_day_staff_id", "workspace_id", "day", "staff_id"),
    )

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    staff_id: Mapped[int] = fk("staff.id", index=False)
    customer_id: Mapped[int] = fk("customers.id", index=False)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    msgs_in: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    msgs_out: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    moments: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class InteractionMonth(Base):
    """Touches between one staff account and one customer in one calendar month.

    The month's sums of ``interaction_days`` (``month`` is its first day), maintained with
    them; ``counted``: the pair's exchange was two-way (a message each way, or a moments
    interaction) **and** the customer was the account's friend at the month's end, as
    evaluated when the row or the friendship last changed (see ``staff_metric_months``).
    """

    __tablename__ = "interaction_months"
    __table_args__ = (UniqueConstraint("workspace_id", "staff_id", "customer_id", "month"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    staff_id: Mapped[int] = fk("staff.id", index=False)
    customer_id: Mapped[int] = fk("customers.id", index=False)
    month: Mapped[date] = mapped_column(Date, nullable=False)
    msgs_in: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    msgs_out: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    moments: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    counted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class StaffMetricMonth(Base):
    """Interaction figures of one staff account in one calendar month.

    ``msgs``: 1:1 messages of the month (both ways); ``touched``: the month's
    ``interaction_months`` rows with ``counted`` set. Friendship changes not yet folded in
    (``follow_count_changes``) are corrected for when read (siyu.insights.metrics).
    """

    __tablename__ = "staff_metric_months"
    __table_args__ = (UniqueConstraint("workspace_id", "staff_id", "month"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    staff_id: Mapped[int] = fk("staff.id", index=False)
    month: Mapped[date] = mapped_column(Date, nullable=False)
    msgs: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    touched: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class StaffFriendDay(Base):
    """Friendships of one staff account that began minus those that ended on one business day.

    A friendship (a ``follows`` row with ``added_at``) counts from ``added_at`` until
    ``deleted_at`` (or ``added_at`` if that is later); friends at the start of day D are
    the sum of ``net`` over the days before D plus the changes not yet folded in.
    """

    __tablename__ = "staff_friend_days"
    __table_args__ = (
        UniqueConstraint("workspace_id", "staff_id", "day"),
        # Friends at a day's start for every account: read from the index alone.
        Index("ix_staff_friend_days_workspace_id_day_staff_id_net", "workspace_id", "day", "staff_id", "net"),
    )

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    staff_id: Mapped[int] = fk("staff.id", index=False)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    net: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class FollowCountChange(Base):
    """A friendship count change not yet folded into ``staff_friend_days`` / ``interaction_months``.

    Written only by the triggers on ``follows`` (``FOLLOW_COUNT_TRIGGERS``), so every
    writer is seen: ``delta`` +1 at a friendship's start (``at`` = ``added_at``), −1 at its
    end; a changed or deleted row first takes its old entries back. Folded and removed by
    ``siyu.insights.aggregates.fold_follow_changes``. No foreign keys: entries outlive a
    deleted account or customer until folded.
    """

    __tablename__ = "follow_count_changes"
    __table_args__ = (Index("ix_follow_count_changes_workspace_id_staff_id", "workspace_id", "staff_id"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    staff_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    customer_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    delta: Mapped[int] = mapped_column(Integer, nullable=False)


_FCC = "INSERT INTO follow_count_changes (workspace_id, staff_id, customer_id, at, delta)"
_WATCHED = ("workspace_id", "staff_id", "customer_id", "added_at", "deleted_at")


def _sqlite_rows(row: str, sign: int) -> str:
    """The journal entries of one follows row (OLD or NEW), ``sign`` +1 to add, -1 to take back."""
    return (
        f"{_FCC} SELECT {row}.workspace_id, {row}.staff_id, {row}.customer_id, {row}.added_at, {sign}"
        f" WHERE {row}.added_at IS NOT NULL;"
        f" {_FCC} SELECT {row}.workspace_id, {row}.staff_id, {row}.customer_id,"
        f" max({row}.added_at, {row}.deleted_at), {-sign}"
        f" WHERE {row}.added_at IS NOT NULL AND {row}.deleted_at IS NOT NULL;"
    )


def _pg_rows(row: str, sign: int) -> str:
    return (
        f" IF {row}.added_at IS NOT NULL THEN"
        f" {_FCC} VALUES ({row}.workspace_id, {row}.staff_id, {row}.customer_id, {row}.added_at, {sign});"
        f" IF {row}.deleted_at IS NOT NULL THEN"
        f" {_FCC} VALUES ({row}.workspace_id, {row}.staff_id, {row}.customer_id,"
        f" GREATEST({row}.added_at, {row}.deleted_at), {-sign});"
        " END IF; END IF;"
    )


# Every write to a friendship's counted columns leaves journal entries (migration 0001
# carries these; see ``siyu.models.TRIGGERS``).
FOLLOW_COUNT_TRIGGERS = {
    "postgresql": (
        "CREATE OR REPLACE FUNCTION follows_count_changes() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF TG_OP = 'UPDATE' AND ("
        + ", ".join(f"OLD.{c}" for c in _WATCHED)
        + ") IS NOT DISTINCT FROM ("
        + ", ".join(f"NEW.{c}" for c in _WATCHED)
        + ") THEN RETURN NULL; END IF;"
        " IF TG_OP <> 'INSERT' THEN"
        + _pg_rows("OLD", -1)
        + " END IF; IF TG_OP <> 'DELETE' THEN"
        + _pg_rows("NEW", 1)
        + " END IF; RETURN NULL; END $$",
        "CREATE TRIGGER tr_follows_count_changes AFTER INSERT OR DELETE OR UPDATE OF "
        + ", ".join(_WATCHED)
        + " ON follows FOR EACH ROW EXECUTE FUNCTION follows_count_changes()",
    ),
    "sqlite": (
        "CREATE TRIGGER tr_follows_count_insert AFTER INSERT ON follows FOR EACH ROW BEGIN "
        + _sqlite_rows("NEW", 1)
        + " END",
        "CREATE TRIGGER tr_follows_count_delete AFTER DELETE ON follows FOR EACH ROW BEGIN "
        + _sqlite_rows("OLD", -1)
        + " END",
        "CREATE TRIGGER tr_follows_count_update AFTER UPDATE OF "
        + ", ".join(_WATCHED)
        + " ON follows FOR EACH ROW WHEN "
        + " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in _WATCHED)
        + " BEGIN "
        + _sqlite_rows("OLD", -1)
        + " "
        + _sqlite_rows("NEW", 1)
        + " END",
    ),
}


class InsightPosition(Base):
    """How far the aggregates have read a source (``messages`` or ``events``), by row id."""

    __tablename__ = "insight_positions"
    __table_args__ = (UniqueConstraint("workspace_id", "source"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    last_id: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    extra: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    updated_at: Mapped[datetime] = updated_at()


class PnlSnapshot(Base):
    """A month's P&L order facts as a process kept them, and the journal cursor they are exact at.

    Written by ``siyu.insights.pnl_cache`` when a process computed a month's facts or
    brought an older snapshot up to date; read by a process that has not kept the month
    yet, which replays the change journal from ``cursor`` instead of computing the month
    again. ``fingerprint``: the price list, fee rates, discount rule and zone the facts
    were computed with (a digest); ``facts``: zlib-compressed JSON. Derived, rebuildable,
    never the only copy of anything.
    """

    __tablename__ = "pnl_snapshots"
    __table_args__ = (UniqueConstraint("workspace_id", "month"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    month: Mapped[date] = mapped_column(Date, nullable=False)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    cursor: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    facts: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class SkuCost(Base):
    """Cost of goods of one SKU (per unit, fen) over a validity range of business days.

    ``valid_to`` is inclusive; NULL = open-ended. Ranges of one SKU never overlap (the
    price-list import refuses it).
    """

    __tablename__ = "sku_costs"
    __table_args__ = (Index("ix_sku_costs_workspace_id_sku", "workspace_id", "sku"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    sku: Mapped[str] = mapped_column(String(64), nullable=False)
    cost_fen: Mapped[int] = mapped_column(BigInteger, nullable=False)
    valid_from: Mapped[date] = mapped_column(Date, nullable=False)
    valid_to: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = created_at()


class Reward(Base):
    """Money the brand paid a customer outside an order's price: a red packet (红包), a
    coupon borne by the brand and not in the order's discount, a gift (at its cost).

    Subtracted from gross profit in the P&L of the month of ``paid_at``: per staff account
    (``staff_id`` when given, else the account that owned the customer then), per channel
    (``channel_id`` when given, else the owning friendship's channel), per send and
    campaign (``send_id``). ``referred_customer_id``: the friend a referral reward was for.
    ``ref``: the payment's own reference (a red-packet bill number), unique in the
    workspace, so a re-imported file records nothing twice.
    """

    __tablename__ = "rewards"
    __table_args__ = (
        Index("ix_rewards_workspace_id_paid_at", "workspace_id", "paid_at"),
        Index("ix_rewards_send_id", "send_id"),
        UniqueConstraint("workspace_id", "ref"),
    )

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    customer_id: Mapped[int] = fk("customers.id")
    amount_fen: Mapped[int] = mapped_column(BigInteger, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    send_id: Mapped[int | None] = fk("sends.id", nullable=True, ondelete="SET NULL", index=False)
    channel_id: Mapped[int | None] = fk("channels.id", nullable=True, ondelete="SET NULL", index=False)
    staff_id: Mapped[int | None] = fk("staff.id", nullable=True, ondelete="SET NULL", index=False)
    referred_customer_id: Mapped[int | None] = fk(
        "customers.id", nullable=True, ondelete="SET NULL", index=False
    )
    ref: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="api")
    created_by: Mapped[str] = mapped_column(String(64), nullable=False, default="system")
    created_at: Mapped[datetime] = created_at()

"""The channel funnel's maintained aggregates: one row per channel friend, one per channel-day.

Written only by ``siyu.acquisition.funnel`` (kept current by the ``acquisition.funnel``
subscriber on friend and order events, rebuilt nightly); the report reads
``channel_funnel_days`` alone, so its cost does not grow with the number of friends.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import Base, UTCDateTime, fk, pk, updated_at, workspace_fk


class ChannelFriend(Base):
    """One friend add through a channel (a follow with a live-code ``state``) and what followed.

    ``credited``: this add is the customer's first through any channel, so the orders the
    customer paid after it are counted here (a customer's orders count once, for the
    channel that brought them). ``lost_7d`` / ``lost_30d``: the friend was deleted (by
    the customer or the staff member) within 7 / 30 days of the add; ``lost``: deleted by now.
    """

    __tablename__ = "channel_friends"
    __table_args__ = (
        UniqueConstraint("workspace_id", "follow_id"),
        Index("ix_channel_friends_workspace_id_state_add_day", "workspace_id", "state", "add_day"),
        Index("ix_channel_friends_workspace_id_customer_id", "workspace_id", "customer_id"),
        # one account's slice (a staff user's own funnel)
        Index("ix_channel_friends_workspace_id_staff_id_add_day", "workspace_id", "staff_id", "add_day"),
    )

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    follow_id: Mapped[int] = fk("follows.id", index=False)
    customer_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    staff_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    state: Mapped[str] = mapped_column(String(64), nullable=False)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # The add's business day in the workspace zone (the cohort the add belongs to).
    add_day: Mapped[date] = mapped_column(Date, nullable=False)
    # The Monday of its week and the first of its month (the report groups by these).
    add_week: Mapped[date] = mapped_column(Date, nullable=False)
    add_month: Mapped[date] = mapped_column(Date, nullable=False)
    lost_7d: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    lost_30d: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    lost: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    credited: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    first_order_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Whole days from the add to the first paid order after it.
    days_to_first: Mapped[int | None] = mapped_column(Integer)
    orders: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    net_fen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    cogs_fen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    uncosted_orders: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class ChannelFunnelDay(Base):
    """The funnel of one channel (``state``) for the adds of one business day."""

    __tablename__ = "channel_funnel_days"
    __table_args__ = (UniqueConstraint("workspace_id", "state", "day"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    state: Mapped[str] = mapped_column(String(64), nullable=False)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    week: Mapped[date] = mapped_column(Date, nullable=False)
    month: Mapped[date] = mapped_column(Date, nullable=False)
    adds: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    lost_7d: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    lost_30d: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    lost: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    buyers: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    repeat_buyers: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    orders: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    net_fen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    cogs_fen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    uncosted_orders: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    days_to_first_sum: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    updated_at: Mapped[datetime] = updated_at()

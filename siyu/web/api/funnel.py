"""``/api/v1/channels/funnel``: the channel funnel to profit, from maintained aggregates.

Operators and admins read every channel (or one account's slice with ``staff``); a staff
user reads their own slice only: the adds to their account, their share of each cost.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from siyu.acquisition import funnel, scope
from siyu.web.api.common import ERRORS
from siyu.web.auth import CurrentUser, DbSession

router = APIRouter(prefix="/api/v1/channels", tags=["channels"], responses=ERRORS)


class FiguresOut(BaseModel):
    adds: int = Field(description="Friend adds through the channel (scans that became friends).")
    lost: int = Field(description="Of those, deleted since (by the customer or staff).")
    kept: int
    matured_7d: int = Field(description="Adds at least 7 days old (the base of kept_7d_rate).")
    kept_7d: int
    matured_30d: int
    kept_30d: int
    buyers: int = Field(description="Customers with a paid order after the add (first-touch channel).")
    repeat_buyers: int = Field(description="Buyers with two or more orders after the add.")
    orders: int
    net_fen: int = Field(description="Paid − refunded, orders after the add.")
    cogs_fen: int = Field(description="Cost of goods of the orders whose cost is known.")
    gross_fen: int = Field(description="net_fen − cogs_fen.")
    uncosted_orders: int = Field(description="Orders without a known cost of goods.")
    cost_fen: int | None = Field(description="The channel's cost, spread over its adds.")
    kept_7d_rate: float | None
    kept_30d_rate: float | None
    buyer_rate: float | None
    repeat_rate: float | None
    avg_days_to_first: float | None
    cost_per_add_fen: int | None
    cost_per_kept_fen: int | None
    cost_per_buyer_fen: int | None
    roi: float | None = Field(description="gross_fen ÷ cost_fen.")


class PeriodOut(FiguresOut):
    period: str


class ChannelFunnelOut(BaseModel):
    state: str
    name: str
    group_name: str | None
    channel_id: int | None
    total: FiguresOut
    periods: list[PeriodOut]


class FunnelOut(BaseModel):
    start: date
    end: date
    grain: str
    today: date
    periods: list[str]
    channels: list[ChannelFunnelOut]
    total: FiguresOut
    updated_at: str | None


@router.get("/funnel", response_model=FunnelOut, summary="Channel funnel to profit")
def channel_funnel(
    user: CurrentUser,
    db: DbSession,
    start: Annotated[
        date | None, Query(description="First day of adds (local); default 90 days ago.")
    ] = None,
    end: Annotated[date | None, Query(description="Last day of adds (local); default today.")] = None,
    grain: Literal["day", "week", "month", "total"] = "week",
    channel: Annotated[str | None, Query(max_length=64, description="A channel's state or name.")] = None,
    group: Annotated[str | None, Query(max_length=64, description="A channel group.")] = None,
    staff: Annotated[
        str | None, Query(max_length=64, description="One account's adds (userid); ignored for staff users.")
    ] = None,
) -> dict[str, Any]:
    """Per channel and period: adds, kept after 7 / 30 days, buyers and repeat buyers after the
    add, net revenue, gross profit, the channel's cost and cost per kept friend and per buyer.

    A staff user gets the adds to their own account only, and of each channel's cost the
    share of their adds."""
    staff_id = scope.own(user.role, user.staff_id)
    if staff_id is None:
        staff_id = scope.staff_id_of(db, workspace_id=user.workspace_id, userid=staff)
    rep = funnel.report(
        db,
        workspace_id=user.workspace_id,
        start=start,
        end=end,
        grain=grain,
        channel=channel,
        group=group,
        staff_id=staff_id,
    )
    return rep.as_dict()

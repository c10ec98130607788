"""``/api/v1/insights``: the four metrics, the P&L (per month, per send), rewards, scores, cohorts.

Staff users get their own account's numbers only (``staff_id`` and ``team`` are ignored
for them); the definitions are in docs/metrics.md.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, Field

from siyu.insights import cohorts, metrics, profit, rewards, score, send_profit
from siyu.kit import audit
from siyu.kit.errors import Invalid
from siyu.kit.timeutil import day_start_utc
from siyu.web.api.common import ERRORS
from siyu.web.auth import CurrentUser, DbSession
from siyu.web.auth.deps import OperatorUser, Principal

router = APIRouter(prefix="/api/v1/insights", tags=["insights"], responses=ERRORS)

GrainQ = Annotated[Literal["day", "week", "month"], Query(description="Period length.")]
OnQ = Annotated[date | None, Query(description="A day inside the period (default: today).")]


def own_staff(user: Principal, staff_id: int | None) -> int | None:
    """The staff account a caller may read: their own for staff users."""
    if user.sees_all_customers:
        return staff_id
    return user.staff_id or 0


@router.get("/metrics", summary="The four metrics per account, team and workspace")
def get_metrics(
    user: CurrentUser,
    db: DbSession,
    grain: GrainQ = "month",
    on: OnQ = None,
    staff_id: Annotated[int | None, Query(description="One staff account.")] = None,
    team: Annotated[str | None, Query(max_length=200, description="One team (department).")] = None,
    trend: Annotated[int, Query(ge=1, le=metrics.MAX_PERIODS, description="Periods in the trend.")] = 6,
) -> dict[str, Any]:
    """Pass rate, reply rate and time, interaction rate (and monthly coverage), conversion,
    each beside WeCom's figure (``get_user_behavior_data``); accounts outside the archive
    are listed in ``not_covered`` and fall back to WeCom's reply figure."""
    mine = own_staff(user, staff_id)
    return metrics.report(
        db,
        workspace_id=user.workspace_id,
        grain=grain,
        on=on,
        staff_id=mine,
        team=team if user.sees_all_customers else None,
        trend=trend,
    )


@router.get("/pnl", summary="The month's P&L per account, channel and group")
def get_pnl(
    user: CurrentUser,
    db: DbSession,
    on: OnQ = None,
    month: Annotated[
        str | None,
        Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="The month, YYYY-MM (instead of `on`)."),
    ] = None,
    staff_id: Annotated[int | None, Query(description="One staff account.")] = None,
) -> dict[str, Any]:
    """Net revenue, cost of goods, platform fees, gross profit and margin; the account's
    cost and profit per friend; channel costs; ``gmv_up_margin_down`` against last month.
    Without a month: the latest complete month with data. A month still running comes back
    ``partial``, its account costs charged for the days gone by."""
    if month is not None:
        on = date.fromisoformat(month + "-01")
    return profit.pnl(db, workspace_id=user.workspace_id, on=on, staff_id=own_staff(user, staff_id))


@router.get("/score", summary="Execution leaderboard of the month")
def get_score(
    user: CurrentUser,
    db: DbSession,
    on: OnQ = None,
    staff_id: Annotated[int | None, Query(description="One staff account.")] = None,
) -> dict[str, Any]:
    """Per account: pass rate, reply in time, monthly coverage and tasks done on time (0–1),
    the weighted score (0–100), the profit factor and the weakest part; ranked."""
    return score.leaderboard(db, workspace_id=user.workspace_id, on=on, staff_id=own_staff(user, staff_id))


@router.get("/cohorts", summary="Friend cohorts by week of add and the repurchase lift")
def get_cohorts(
    user: CurrentUser,
    db: DbSession,
    weeks: Annotated[int, Query(ge=1, le=cohorts.MAX_WEEKS, description="Cohort weeks.")] = 12,
    months: Annotated[int, Query(ge=1, le=60, description="First-order months for the lift.")] = 12,
    staff_id: Annotated[int | None, Query(description="One staff account.")] = None,
) -> dict[str, Any]:
    """Retention, share bought and gross profit per friend by week since the add; the lift of
    friends' repurchase over non-friends matched by first-order month and platform (whole
    workspace only)."""
    sid = own_staff(user, staff_id)
    return {
        "cohorts": cohorts.friend_cohorts(db, workspace_id=user.workspace_id, weeks=weeks, staff_id=sid),
        "lift": cohorts.repurchase_lift(db, workspace_id=user.workspace_id, months=months)
        if sid is None
        else None,
    }


@router.get("/sends", summary="P&L of sends and campaigns after 1, 7 and 30 days")
def get_send_pnl(
    user: CurrentUser,
    db: DbSession,
    days: Annotated[
        int, Query(ge=1, le=send_profit.MAX_DAYS, description="Sends planned in the last N days.")
    ] = 90,
    send_id: Annotated[int | None, Query(ge=1, lt=2**63, description="One send.")] = None,
    staff_id: Annotated[int | None, Query(description="One staff account's recipients.")] = None,
) -> dict[str, Any]:
    """Per send and per campaign (a recurring send's runs): targeted customers, buyers and
    conversion (the holdout's beside it), orders, net revenue, gross profit, rewards and
    the fixed send cost, profit, and the holdout-adjusted incremental gross profit and
    profit with the 95 % interval."""
    return send_profit.send_pnl(
        db, workspace_id=user.workspace_id, send_id=send_id, days=days, staff_id=own_staff(user, staff_id)
    )


class RewardIn(BaseModel):
    customer_id: int | None = Field(None, ge=1, lt=2**63)
    external_userid: str | None = Field(None, max_length=128)
    amount: str = Field(..., max_length=32, description="Yuan, e.g. 8.88")
    kind: str = Field(..., max_length=16, description="red_packet, coupon or gift")
    paid_at: str = Field(..., max_length=40, description="ISO date-time; workspace time without an offset")
    send_id: int | None = Field(None, ge=1, lt=2**63)
    channel: str | None = Field(None, max_length=64, description="The channel's state")
    staff: str | None = Field(None, max_length=64, description="Staff userid who paid it")
    referred_customer_id: int | None = Field(None, ge=1, lt=2**63)
    ref: str | None = Field(None, max_length=64, description="The payment's own reference (unique)")
    note: str | None = Field(None, max_length=200)


@router.post("/rewards", status_code=201, summary="Record a reward paid to a customer")
def post_reward(body: RewardIn, user: OperatorUser, db: DbSession) -> dict[str, Any]:
    """A red packet, brand-paid coupon or gift; subtracted from gross profit in the P&L."""
    r = rewards.record_reward(
        db, workspace_id=user.workspace_id, fields=body.model_dump(), actor=user.actor, source="api"
    )
    audit.record(
        db, workspace_id=user.workspace_id, actor=user.actor, action="reward.create", target_type="reward",
        target_id=r.id, detail={"amount_fen": r.amount_fen, "kind": r.kind},
    )  # fmt: skip
    return rewards.reward_dict(r)


@router.post("/rewards/import", summary="Import rewards from CSV text")
def import_rewards(
    user: OperatorUser,
    db: DbSession,
    csv_text: Annotated[str, Body(media_type="text/csv", max_length=20_000_000)],
) -> dict[str, Any]:
    """Columns as in docs/metrics.md; any wrong row refuses the file (422 naming every
    wrong row by line and column, the first in ``field``); rows whose ``ref`` is stored
    already are counted as duplicates."""
    result = rewards.import_rewards(
        db, workspace_id=user.workspace_id, text=csv_text, actor=user.actor, source="api"
    )
    if result.errors:
        raise Invalid(rewards.errors_message(result.errors), field=rewards.error_field(result.errors[0]))
    audit.record(
        db, workspace_id=user.workspace_id, actor=user.actor, action="reward.import", target_type="reward",
        detail={"written": result.written, "duplicates": result.duplicates},
    )  # fmt: skip
    return result.as_dict()


@router.get("/rewards", summary="Rewards paid in a month")
def get_rewards(
    user: CurrentUser,
    db: DbSession,
    on: OnQ = None,
    send_id: Annotated[int | None, Query(ge=1, lt=2**63, description="One send's rewards.")] = None,
) -> dict[str, Any]:
    """The reward ledger of the calendar month holding ``on`` (staff users: the rewards
    recorded as paid by their account)."""
    start, end, tz = metrics.resolve_period(db, user.workspace_id, "month", on)
    rows = rewards.list_rewards(
        db, workspace_id=user.workspace_id, since=day_start_utc(start, tz),
        until=day_start_utc(end + timedelta(days=1), tz), send_ids=[send_id] if send_id else None,
    )  # fmt: skip
    mine = own_staff(user, None)
    items = [rewards.reward_dict(r) for r in rows if mine is None or r.staff_id == mine]
    return {
        "month": start.strftime("%Y-%m"),
        "total_fen": sum(i["amount_fen"] for i in items),
        "rewards": items,
    }

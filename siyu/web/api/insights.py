"""``/api/v1/insights``: the four metrics, the P&L, execution scores and cohorts.

Staff users get their own account's numbers only (``staff_id`` and ``team`` are ignored
for them); the definitions are in docs/metrics.md.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from siyu.insights import cohorts, metrics, profit, score
from siyu.web.api.common import ERRORS
from siyu.web.auth import CurrentUser, DbSession
from siyu.web.auth.deps import Principal

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
    staff_id: Annotated[int | None, Query(description="One staff account.")] = None,
) -> dict[str, Any]:
    """Net revenue, cost of goods, platform fees, gross profit and margin; the account's
    cost and profit per friend; channel costs; ``gmv_up_margin_down`` against last month."""
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

"""``/api/v1/metrics``: the summary behind the dashboard."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from siyu.insights.schemas import MetricsSummary
from siyu.insights.service import MAX_DAYS, summary
from siyu.web.api.common import ERRORS
from siyu.web.auth import CurrentUser, DbSession

router = APIRouter(prefix="/api/v1/metrics", tags=["metrics"], responses=ERRORS)


@router.get("/summary", response_model=MetricsSummary, summary="Metrics summary")
def metrics_summary(
    user: CurrentUser,
    db: DbSession,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS, description="Window length in business days.")] = 30,
) -> MetricsSummary:
    """Customers, friends, orders, net revenue, layers, RFM and per-day series.

    Staff users get the figures of the customers their own account follows.
    """
    staff_id = None if user.sees_all_customers else (user.staff_id or 0)
    return summary(db, workspace_id=user.workspace_id, days=days, staff_id=staff_id)

"""经营指标: the four metrics per account and team, the P&L, execution scores and cohort heat maps.

The pages call the same services as ``/api/v1/insights`` and ``siyu insights``; a staff
user sees their own account's numbers only.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from siyu.insights import metrics
from siyu.web.api.insights import own_staff
from siyu.web.auth import DbSession
from siyu.web.console.deps import ConsoleUser
from siyu.web.console.render import render

router = APIRouter()
GRAIN_LABELS = {"day": "日", "week": "周", "month": "月"}


def _on(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value + "-01" if len(value) == 7 else value)
    except ValueError:
        return None


@router.get("/insights", response_class=HTMLResponse)
def metrics_page(
    request: Request,
    user: ConsoleUser,
    db: DbSession,
    grain: str = "month",
    on: str | None = None,
    staff_id: int | None = None,
    team: str | None = None,
) -> HTMLResponse:
    """四项指标: pass, reply, interaction and conversion per account and team, WeCom's beside."""
    grain = grain if grain in GRAIN_LABELS else "month"
    data = metrics.report(
        db,
        workspace_id=user.workspace_id,
        grain=grain,
        on=_on(on),
        staff_id=own_staff(user, staff_id),
        team=(team or None) if user.sees_all_customers else None,
        trend=6,
    )
    chart: dict[str, Any] = {
        "periods": [f"{p['start']:%m-%d}" for p in data["trend"]],
        "series": {
            k: [p[k] for p in data["trend"]]
            for k in (
                "pass_rate",
                "reply_rate",
                "interaction_rate",
                "conversion_rate",
                "wecom_pass_rate",
                "wecom_reply_rate",
            )
        },
    }
    return render(
        request,
        "insights.html",
        {
            "d": data,
            "grain": grain,
            "grains": GRAIN_LABELS,
            "on": on or "",
            "chart_data": chart,
            "team": team or "",
            "staff_id": staff_id,
        },
    )

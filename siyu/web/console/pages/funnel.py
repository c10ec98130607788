"""渠道漏斗: per channel, adds → kept → buyers → gross profit, and cost per head.

Operators and admins see every account's adds; a staff user sees the adds to their own
account and their share of each channel's cost.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from siyu.acquisition import funnel, scope
from siyu.kit.errors import Invalid
from siyu.web.auth import DbSession
from siyu.web.console.deps import ConsoleUser
from siyu.web.console.render import render

router = APIRouter()
GRAIN_LABELS = {"day": "按天", "week": "按周", "month": "按月", "total": "合计"}


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.get("/funnel", response_class=HTMLResponse)
def funnel_page(
    request: Request,
    user: ConsoleUser,
    db: DbSession,
    start: Annotated[str, Query(max_length=10)] = "",
    end: Annotated[str, Query(max_length=10)] = "",
    grain: Annotated[str, Query(max_length=8)] = "week",
    group: Annotated[str, Query(max_length=64)] = "",
) -> HTMLResponse:
    """The funnel of the channels' adds in a range, with charts and one card per channel."""
    grain = grain if grain in GRAIN_LABELS else "week"
    mine = scope.own(user.role, user.staff_id)
    error = ""
    try:
        rep = funnel.report(
            db,
            workspace_id=user.workspace_id,
            start=_day(start),
            end=_day(end),
            grain=grain,
            group=group or None,
            staff_id=mine,
        )
    except Invalid as exc:
        error = "开始日期不能晚于结束日期，且范围最长约三年。" if exc.field == "start" else exc.message
        rep = funnel.report(
            db, workspace_id=user.workspace_id, grain=grain, group=group or None, staff_id=mine
        )
    groups = sorted({c.group_name for c in rep.channels if c.group_name})
    shown = [c for c in rep.channels if c.total.adds or c.channel_id is not None]
    chart: dict[str, Any] = {
        "channels": [c.name for c in shown],
        "adds": [c.total.adds for c in shown],
        "kept": [c.total.kept for c in shown],
        "buyers": [c.total.buyers for c in shown],
        "gross_yuan": [round(c.total.gross_fen / 100, 2) for c in shown],
        "periods": rep.periods,
        "series": [
            {
                "name": c.name,
                "gross_yuan": [
                    round(c.periods[p].gross_fen / 100, 2) if p in c.periods else 0 for p in rep.periods
                ],
            }
            for c in shown[:10]
        ],
    }
    return render(
        request,
        "funnel.html",
        {
            "rep": rep,
            "channels": shown,
            "groups": groups,
            "group": group,
            "grain": grain,
            "grain_labels": GRAIN_LABELS,
            "error": error,
            "chart_data": chart,
            "own_view": mine is not None,
        },
    )

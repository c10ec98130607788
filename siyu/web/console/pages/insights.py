"""经营指标: the four metrics per account and team, the P&L, execution scores and cohort heat maps.

The pages call the same services as ``/api/v1/insights`` and ``siyu insights``; a staff
user sees their own account's numbers only.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from siyu.insights import cohorts, metrics, profit, score, send_profit
from siyu.kit.timeutil import day_start_utc
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
            "tab": "metrics",
            "on": on or "",
            "chart_data": chart,
            "team": team or "",
            "staff_id": staff_id,
        },
    )


@router.get("/insights/score", response_class=HTMLResponse)
def score_page(request: Request, user: ConsoleUser, db: DbSession, on: str | None = None) -> HTMLResponse:
    """执行力排行: one line per account, best first, the weakest habit named."""
    data = score.leaderboard(db, workspace_id=user.workspace_id, on=_on(on), staff_id=own_staff(user, None))
    return render(
        request,
        "insights_score.html",
        {"d": data, "labels": score.PART_LABELS, "on": on or "", "tab": "score"},
    )


@router.get("/insights/pnl", response_class=HTMLResponse)
def pnl_page(
    request: Request, user: ConsoleUser, db: DbSession, month: str | None = None, on: str | None = None
) -> HTMLResponse:
    """利润表: the month's P&L per account, channel and group, and of the month's sends
    (``?month=YYYY-MM``; ``on`` is the older name)."""
    sid = own_staff(user, None)
    data = profit.pnl(db, workspace_id=user.workspace_id, on=_on(month or on), staff_id=sid)
    sends = send_profit.send_pnl(
        db,
        workspace_id=user.workspace_id,
        staff_id=sid,
        since=day_start_utc(data["start"], data["timezone"]),
        until=day_start_utc(data["end"] + timedelta(days=1), data["timezone"]),
    )
    return render(request, "insights_pnl.html", {"d": data, "sends": sends, "tab": "pnl"})


@router.get("/insights/cohorts", response_class=HTMLResponse)
def cohorts_page(request: Request, user: ConsoleUser, db: DbSession, weeks: int = 12) -> HTMLResponse:
    """好友同期群: heat maps by week of add, and the repurchase lift."""
    weeks = weeks if weeks in (8, 12, 26) else 12
    sid = own_staff(user, None)
    data = cohorts.friend_cohorts(db, workspace_id=user.workspace_id, weeks=weeks, staff_id=sid)
    lift = cohorts.repurchase_lift(db, workspace_id=user.workspace_id) if sid is None else None
    rows = [{"label": f"{c['week']:%m-%d}（{c['size']}人）", "c": c} for c in data["cohorts"]]
    max_profit = max(
        [v for c in data["cohorts"] for v in c["profit_per_friend_fen"] if v is not None] + [100]
    )
    chart = {
        "heatmaps": [
            {
                "id": "heat-retention",
                "percent": True,
                "max": 100,
                "columns": data["columns"],
                "rows": [{"label": r["label"], "values": r["c"]["retention"]} for r in rows],
            },
            {
                "id": "heat-bought",
                "percent": True,
                "max": 100,
                "columns": data["columns"],
                "rows": [{"label": r["label"], "values": r["c"]["bought"]} for r in rows],
            },
            {
                "id": "heat-profit",
                "percent": False,
                "max": round(max_profit / 100),
                "columns": data["columns"],
                "rows": [
                    {
                        "label": r["label"],
                        "values": [
                            None if v is None else round(v / 100) for v in r["c"]["profit_per_friend_fen"]
                        ],
                    }
                    for r in rows
                ],
            },
        ]
    }
    return render(
        request,
        "insights_cohorts.html",
        {"d": data, "lift": lift, "rows": rows, "weeks": weeks, "chart_data": chart, "tab": "cohorts"},
    )

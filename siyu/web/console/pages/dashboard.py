"""The dashboard: headline figures, layers, RFM, and new friends / orders per day."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from siyu.web.auth import DbSession
from siyu.web.console.deps import ConsoleUser
from siyu.web.console.queries import dashboard
from siyu.web.console.render import render

router = APIRouter()
# Windows the per-day charts offer (days); anything else falls back to the default.
WINDOWS = (7, 30, 90, 180)
WINDOW_DAYS = 30


@router.get("/", response_class=HTMLResponse)
def dashboard_page(
    request: Request, user: ConsoleUser, db: DbSession, days: int = WINDOW_DAYS
) -> HTMLResponse:
    """The operations lead's first page."""
    days = days if days in WINDOWS else WINDOW_DAYS
    d = dashboard(db, user, days=days)
    chart_data = {
        "days": d.days,
        "new_friends": d.new_friends,
        "orders": d.orders_per_day,
        "net_yuan": [round(f / 100, 2) for f in d.net_per_day_fen],
        "layers": {k: [[label, n] for label, n in v] for k, v in d.layers.items()},
        "rfm": [[label, n] for label, n in d.rfm],
    }
    return render(
        request, "dashboard.html", {"d": d, "days": days, "windows": WINDOWS, "chart_data": chart_data}
    )

"""The zh-CN web console: server-rendered pages on the API's auth, charts with ECharts.

``mount(app)`` adds the pages, the static files and the page-style error handlers.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from siyu.web.console.deps import install_handlers, mark_console
from siyu.web.console.pages.admin import router as admin_router
from siyu.web.console.pages.archive import router as archive_router
from siyu.web.console.pages.auth import router as auth_router
from siyu.web.console.pages.bulk import router as bulk_router
from siyu.web.console.pages.channels import router as channels_router
from siyu.web.console.pages.customers import router as customers_router
from siyu.web.console.pages.dashboard import router as dashboard_router
from siyu.web.console.pages.dedup import router as dedup_router
from siyu.web.console.pages.doctor import router as doctor_router
from siyu.web.console.pages.funnel import router as funnel_router
from siyu.web.console.pages.imports import router as imports_router
from siyu.web.console.pages.insights import router as insights_router
from siyu.web.console.pages.jobs import router as jobs_router
from siyu.web.console.pages.keywords import router as keywords_router
from siyu.web.console.pages.leads import router as leads_router
from siyu.web.console.pages.moments import router as moments_router
from siyu.web.console.pages.rules import router as rules_router
from siyu.web.console.pages.segments import router as segments_router
from siyu.web.console.pages.sends import router as sends_router
from siyu.web.console.pages.sessions import router as sessions_router
from siyu.web.console.pages.sop import router as sop_router
from siyu.web.console.pages.tasks import router as tasks_router
from siyu.web.console.pages.transfers import router as transfers_router
from siyu.web.console.render import STATIC

router = APIRouter(include_in_schema=False, dependencies=[Depends(mark_console)])
_PAGES = (
    auth_router,
    dashboard_router,
    insights_router,
    bulk_router,
    customers_router,
    segments_router,
    rules_router,
    keywords_router,
    sends_router,
    imports_router,
    jobs_router,
    moments_router,
    archive_router,
    admin_router,
    channels_router,
    sessions_router,
    funnel_router,
    transfers_router,
    dedup_router,
    leads_router,
    doctor_router,
    tasks_router,
    sop_router,
)
for _pages in _PAGES:
    router.include_router(_pages)


def mount(app: FastAPI) -> None:
    """Serve the console at ``/`` and its assets at ``/static``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    install_handlers(app)

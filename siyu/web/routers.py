"""Router wiring: one line per domain (kept here so app.py stays stable)."""

from __future__ import annotations

from fastapi import FastAPI


def include_routers(app: FastAPI) -> None:
    """Mount every domain's routers on the app."""
    # Domains add their routers here, e.g.:
    #   from siyu.customers.endpoints import router as customers_router
    #   app.include_router(customers_router)
    from siyu.wecom.endpoints import router as wecom_callback_router

    app.include_router(wecom_callback_router)
    from siyu.web.api import include_api

    include_api(app)
    from siyu.web.radar import router as radar_router

    app.include_router(radar_router)
    from siyu.web.console import mount as mount_console

    mount_console(app)

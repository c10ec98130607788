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
    from siyu.acquisition.endpoints import router as landing_router

    app.include_router(landing_router)
    from siyu.acquisition.bind_page import router as bind_router

    app.include_router(bind_router)
    from siyu.web.sidebar import router as sidebar_router
    from siyu.web.sidebar import verify_router

    app.include_router(sidebar_router)
    from siyu.web.api import include_api

    include_api(app)
    from siyu.web.radar import router as radar_router

    app.include_router(radar_router)
    from siyu.web.console import mount as mount_console

    mount_console(app)
    app.include_router(verify_router)  # /WW_verify_….txt, after every other route

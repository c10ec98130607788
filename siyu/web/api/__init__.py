"""The REST API under ``/api/v1`` (OpenAPI at ``/api/openapi.json``, docs at ``/api/docs``)."""

from __future__ import annotations

from fastapi import FastAPI


def include_api(app: FastAPI) -> None:
    """Mount every ``/api/v1`` router."""
    from siyu.web.api import (
        auth,
        customer_bulk,
        customers,
        groups,
        imports,
        metrics,
        privacy,
        rules,
        segments,
        sends,
        staff,
        tags,
    )

    for module in (
        auth,
        customer_bulk,
        customers,
        privacy,
        tags,
        segments,
        rules,
        imports,
        staff,
        groups,
        metrics,
        sends,
    ):
        app.include_router(module.router)

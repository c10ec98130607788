"""The REST API under ``/api/v1`` (OpenAPI at ``/api/openapi.json``, docs at ``/api/docs``)."""

from __future__ import annotations

from fastapi import FastAPI


def include_api(app: FastAPI) -> None:
    """Mount every ``/api/v1`` router."""
    from siyu.web.api import (
        archive,
        auth,
        bindings,
        channels,
        customer_bulk,
        customers,
        dedup,
        doctor,
        funnel,
        groups,
        imports,
        insights,
        keywords,
        leads,
        metrics,
        moments,
        privacy,
        rules,
        segments,
        sends,
        sop,
        staff,
        tags,
        tasks,
        transfers,
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
        moments,
        archive,
        funnel,  # /channels/funnel before /channels/{channel_id}
        channels,
        transfers,
        bindings,
        dedup,
        leads,
        doctor,
        insights,
        sop,
        tasks,
        keywords,
        sends,
    ):
        app.include_router(module.router)

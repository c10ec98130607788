"""The web application: API, console, WeCom callbacks and /healthz."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from siyu import __version__
from siyu.config import Settings, get_settings
from siyu.kit.db import get_engine
from siyu.kit.errors import SiyuError


def _error(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"error": {"code": code, "message": message, "field": field}},
        headers=headers,
    )


# Codes for the HTTP errors Starlette raises itself (unknown path, wrong method...).
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 415: "unsupported_media"}


class SiyuApp(FastAPI):
    """FastAPI, with WeCom callback POSTs answered in front of its middleware stack.

    ``POST /wecom/callback[/{workspace}]`` is the one hot path (WeCom pushes every
    change): ``siyu.wecom.endpoints.CallbackFastPath`` serves it before FastAPI's
    middlewares, routing and dependency injection; everything else goes to FastAPI.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from siyu.wecom.endpoints import CallbackFastPath

        self.callback_fast_path = CallbackFastPath(super().__call__, owner=self)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.callback_fast_path(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the FastAPI app; domains contribute routers through ``siyu.web.routers``."""
    settings = settings or get_settings()
    app = SiyuApp(
        title="siyu API",
        version=__version__,
        description="siyu (私域) — private-domain customer operations for brands on WeCom.",
        docs_url=None,  # siyu.web.docs serves /api/docs from the package (no CDN)
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.settings = settings

    @app.exception_handler(SiyuError)
    async def _siyu_error(_request: Request, exc: SiyuError) -> JSONResponse:
        # Auth errors carry headers (WWW-Authenticate on 401, Retry-After on 429).
        return _error(exc.status_code, exc.code, exc.message, exc.field, getattr(exc, "headers", None))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail), None, dict(exc.headers or {}) or None)

    @app.exception_handler(DataError)
    async def _data_error(_request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value the schema let through (a NUL character in text,
        # a number out of range): the client's input, so a 422 rather than a 500.
        del exc
        return _error(
            422,
            "invalid",
            "a value cannot be stored or searched: it contains a NUL character or is out of range",
        )

    @app.exception_handler(OverflowError)
    async def _overflow(_request: Request, exc: OverflowError) -> JSONResponse:
        # SQLite's driver refuses an integer beyond 64 bits before the database sees it
        # (PostgreSQL answers DataError, above): the client's input, so a 422.
        del exc
        return _error(422, "invalid", "a number is out of range: ids and amounts are at most 2^63 - 1")

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
        return _error(422, "invalid", str(first.get("msg", "invalid request")), loc or None)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """Liveness and database reachability."""
        with get_engine(settings).connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    from siyu.web.docs import install_docs
    from siyu.web.routers import include_routers

    install_docs(app)
    include_routers(app)
    return app

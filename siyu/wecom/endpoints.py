"""The WeCom callback endpoint: URL verification (GET) and event delivery (POST).

POST verifies the signature (constant time), the timestamp window, the padding and
the receive id, parses XML with DTDs and entities refused, stores the decrypted
callback in the inbox, commits, answers 200 and only then processes it (a background
task; ``siyu wecom process-callbacks`` picks up anything a crash left pending).
Nothing is stored for a callback that fails verification. A friend add's welcome
(``siyu.acquisition.welcome``) is sent right after the 200 and before processing:
WeCom's ``WelcomeCode`` is valid for 20 seconds.

POSTs are served by ``CallbackFastPath``, a small ASGI layer that ``create_app`` puts
in front of the FastAPI app: the same checks, codes and error bodies, without
FastAPI's routing, dependency injection and response machinery (about a third of the
CPU of a callback). The FastAPI POST routes below stay for the API docs and for apps
built without the fast path; both call ``ingest``.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from siyu.config import Settings, get_settings
from siyu.kit.db import get_engine, session_factory
from siyu.kit.errors import NotFound, SiyuError
from siyu.kit.scope import ensure_workspace
from siyu.kit.timeutil import utcnow
from siyu.models import Workspace
from siyu.wecom.callbacks.inbox import CallbackEvent, parse_event
from siyu.wecom.callbacks.processing import drain
from siyu.wecom.callbacks.writer import InboxWriter, writer_for
from siyu.wecom.crypto import CallbackCrypto, CallbackError
from siyu.wecom.settings import resolve_app

log = logging.getLogger(__name__)
router = APIRouter(tags=["wecom"])

# Resolved app config per workspace, kept briefly so the hot path skips the vault.
_CACHE_TTL = 30.0
MAX_BODY = 1 << 20  # WeCom callbacks are a few KB; refuse anything absurd early
STORE_TIMEOUT = 4.5  # seconds; WeCom waits 5 s for the answer


class InboxBusy(SiyuError):
    """The inbox could not commit in time (database locked or down): 503, WeCom retries."""

    code = "busy"
    status_code = 503


@dataclass(frozen=True, slots=True)
class _Target:
    workspace_id: int
    crypto: CallbackCrypto
    expires: float


_cache: dict[tuple[str, str], _Target] = {}
_cache_lock = threading.Lock()
_resolve_lock = threading.Lock()


def clear_cache() -> None:
    """Forget cached app configs (after a config change; tests)."""
    with _cache_lock:
        _cache.clear()


def _settings(request: Request) -> Settings:
    settings = getattr(request.app.state, "settings", None)
    return settings if isinstance(settings, Settings) else get_settings()


_factories: dict[Engine, sessionmaker[Session]] = {}


def _factory(settings: Settings) -> sessionmaker[Session]:
    """The session factory for the configured database, made once per engine."""
    engine = get_engine(settings)
    factory = _factories.get(engine)
    if factory is None:
        factory = _factories[engine] = session_factory(engine)
    return factory


_inboxes: dict[str, InboxWriter] = {}


def _inbox(settings: Settings) -> InboxWriter:
    """The inbox writer for the configured database (on the hot path: one look-up)."""
    writer = _inboxes.get(settings.database_url)
    if writer is None or not writer.alive:
        writer = _inboxes[settings.database_url] = writer_for(settings.database_url, _factory(settings))
    return writer


def _target(settings: Settings, slug: str | None) -> _Target:
    slug = slug or settings.default_workspace
    key = (settings.database_url, slug)
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and hit.expires > now:
        return hit
    with _resolve_lock:
        # Requests that queued here behind the one that resolved it take its answer: a
        # burst of callbacks on a cold (or just expired) cache resolves once, not once
        # per request, one after another.
        with _cache_lock:
            hit = _cache.get(key)
        if hit is not None and hit.expires > time.monotonic():
            return hit
        target = _resolve(settings, slug, now)
        with _cache_lock:
            _cache[key] = target
    return target


def _resolve(settings: Settings, slug: str, now: float) -> _Target:
    for attempt in range(2):
        try:
            with _factory(settings)() as session:
                if slug == settings.default_workspace:
                    ws = ensure_workspace(session, slug)  # the first callback may precede any other use
                else:
                    found = session.scalar(select(Workspace).where(Workspace.slug == slug))
                    if found is None:
                        raise NotFound(f"workspace {slug!r} does not exist", field="workspace")
                    ws = found
                config = resolve_app(session, ws, settings=settings)
                target = _Target(ws.id, config.crypto(), now + _CACHE_TTL)
                session.commit()
                return target
        except IntegrityError:
            # Another process created the default workspace at the same moment: re-read it.
            if attempt:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def prime(settings: Settings | None = None) -> bool:
    """Before serving: resolve the default workspace's callback config and connect its inbox.

    A server that starts (or restarts) under WeCom's traffic then answers its first
    callbacks as fast as the rest, instead of making them wait for the workspace look-up
    and the database connection. False, with nothing done, when the default workspace has
    no usable WeCom config or the database cannot be reached: the first callback tries
    again and answers the error.
    """
    settings = settings or get_settings()
    try:
        _target(settings, None)
        _inbox(settings).connect()
    except Exception:  # not configured, or the database is down: see above
        log.debug("WeCom callbacks not primed", exc_info=True)
        return False
    return True


def _require(params: Mapping[str, str], *names: str) -> list[str]:
    values = [params.get(n, "") for n in names]
    missing = [n for n, v in zip(names, values, strict=True) if not v]
    if missing:
        raise CallbackError(f"query parameter {', '.join(missing)} is missing", field=missing[0])
    return values


def _params(request: Request, *names: str) -> list[str]:
    return _require(request.query_params, *names)


def _verify(request: Request, slug: str | None) -> PlainTextResponse:
    settings = _settings(request)
    sig, ts, nonce, echostr = _params(request, "msg_signature", "timestamp", "nonce", "echostr")
    target = _target(settings, slug)
    plain = target.crypto.verify_url(sig, ts, nonce, echostr)
    # Exactly the decrypted text: no quotes, newline or BOM, or WeCom rejects the URL.
    return PlainTextResponse(plain)


def _cached_target(settings: Settings, slug: str | None) -> _Target | None:
    with _cache_lock:
        hit = _cache.get((settings.database_url, slug or settings.default_workspace))
    return hit if hit is not None and hit.expires > time.monotonic() else None


def _too_large(size: int) -> CallbackError:
    return CallbackError(f"the callback body is {size} bytes, more than {MAX_BODY}")


async def ingest(
    settings: Settings,
    slug: str | None,
    params: Mapping[str, str],
    read_body: Callable[[], Awaitable[bytes]],
) -> CallbackEvent:
    """Verify, decrypt, parse and durably store one callback POST; the parsed event.

    Raises a ``SiyuError`` (400/403/404/503 with its code) for anything not accepted;
    then nothing is stored. Returns only after the inbox row is committed.
    """
    sig, ts, nonce = _require(params, "msg_signature", "timestamp", "nonce")
    target = _cached_target(settings, slug)
    if target is None:
        target = await run_in_threadpool(_target, settings, slug)
    body = await read_body()
    if len(body) > MAX_BODY:
        raise _too_large(len(body))
    # Verification and parsing are CPU-only (~0.1 ms): done here, off the database path.
    xml_text = target.crypto.decrypt_post(sig, ts, nonce, body)
    ev = parse_event(xml_text)
    writer = _inbox(settings)
    # Answer only after the callback is committed (group commit with concurrent ones).
    # WeCom gives up after 5 s and retries; a late commit then dedups the retry.
    try:
        await writer.store(workspace_id=target.workspace_id, xml_text=xml_text, ev=ev, timeout=STORE_TIMEOUT)
    except TimeoutError as exc:
        raise InboxBusy("the callback inbox is busy; WeCom will retry") from exc
    return ev


def _process_after_accept(app: Any, settings: Settings) -> bool:
    # An ingest-only deployment (SIYU_WECOM_PROCESS_AFTER_ACCEPT=false) leaves processing
    # to `siyu wecom process-callbacks --follow` workers, so bursts never slow the 200s.
    state = getattr(app, "state", None)
    return bool(getattr(state, "wecom_process_in_background", settings.wecom_process_after_accept))


def _greet(settings: Settings, slug: str | None, ev: CallbackEvent, arrived_at: datetime) -> None:
    """A friend add's welcome, after the 200 and before processing (WeCom's 20 s window)."""
    from siyu.acquisition.welcome import greet_after_accept

    try:
        target = _cached_target(settings, slug) or _target(settings, slug)
    except Exception:  # the callback was stored: the worker's fallback greets it
        log.exception("welcome: the workspace could not be resolved")
        return
    greet_after_accept(_factory(settings), target.workspace_id, ev, arrived_at)


def _wants_welcome(ev: CallbackEvent) -> bool:
    return ev.event == "change_external_contact" and ev.change_type in _ADD_CHANGES


_ADD_CHANGES = frozenset({"add_external_contact", "add_half_external_contact"})


async def _receive(request: Request, slug: str | None, background: BackgroundTasks) -> Response:
    settings = _settings(request)
    arrived_at = utcnow()
    ev = await ingest(settings, slug, request.query_params, request.body)
    if _wants_welcome(ev):
        background.add_task(_greet, settings, slug, ev, arrived_at)
    # Also after a duplicate: the first delivery may have timed out before processing.
    if ev.handled and _process_after_accept(request.app, settings):
        background.add_task(drain, _factory(settings), settings.database_url)
    # WeCom needs a 200 with any body; "success" is what its samples answer.
    return PlainTextResponse("success")


_PATH = "/wecom/callback"
_OK_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"7")],
}
_OK_BODY = {"type": "http.response.body", "body": b"success", "more_body": False}


class _Disconnected(Exception):
    """The client went away before its body arrived: there is nobody to answer."""


def _route_path(scope: Scope) -> str:
    """The path without the app's root_path (as Starlette's router matches it)."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] == "/":
        return path[len(root) :]
    return path


def _callback_slug(path: str) -> tuple[bool, str | None]:
    """(is it a callback path?, workspace slug or None for the default workspace)."""
    if path == _PATH:
        return True, None
    if path.startswith(_PATH + "/"):
        slug = path[len(_PATH) + 1 :]
        if slug and "/" not in slug:  # what FastAPI's {workspace} matches
            return True, slug
    return False, None


class CallbackFastPath:
    """ASGI layer that serves ``POST /wecom/callback[/{workspace}]`` itself.

    Everything else goes to the wrapped app. Same checks and answers as the FastAPI
    route: 200 "success" after the commit, errors through the app's own exception
    handlers (so the same ``{"error": {...}}`` bodies and codes), processing after the
    200 when enabled. ``owner`` is the FastAPI app whose settings, state and exception
    handlers apply (``scope["app"]`` when not given: use as a middleware). ``served``
    counts the callbacks it answered (tests, diagnostics).
    """

    def __init__(self, app: ASGIApp, *, owner: Any = None) -> None:
        self.app = app
        self.owner = owner
        self.served = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            is_callback, slug = _callback_slug(_route_path(scope))
            if is_callback:
                await self._serve(scope, receive, send, slug)
                return
        await self.app(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, slug: str | None) -> None:
        app = self.owner
        if app is None:
            app = scope.get("app")
        else:
            scope["app"] = app
        state_settings = getattr(getattr(app, "state", None), "settings", None)
        settings = state_settings if isinstance(state_settings, Settings) else get_settings()
        self.served += 1
        arrived_at = utcnow()

        async def read_body() -> bytes:
            declared = _content_length(scope)
            if declared is not None and declared > MAX_BODY:
                raise _too_large(declared)  # refused before reading it
            chunks: list[bytes] = []
            size = 0
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise _Disconnected
                chunk = message.get("body", b"")
                size += len(chunk)
                if size <= MAX_BODY:  # past the limit, count but keep nothing
                    chunks.append(chunk)
                more = message.get("more_body", False)
            if size > MAX_BODY:
                raise _too_large(size)
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)

        try:
            params = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
            ev = await ingest(settings, slug, params, read_body)
        except _Disconnected:
            return
        except Exception as exc:
            if not await _answer_error(app, scope, receive, send, exc):
                raise
            return
        await send(_OK_START)
        await send(_OK_BODY)
        if _wants_welcome(ev):
            await run_in_threadpool(_greet, settings, slug, ev, arrived_at)
        if ev.handled and _process_after_accept(app, settings):
            await run_in_threadpool(drain, _factory(settings), settings.database_url)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _answer_error(app: Any, scope: Scope, receive: Receive, send: Send, exc: Exception) -> bool:
    """Answer ``exc`` with the app's handler for it (as FastAPI would); False if none."""
    handlers: Mapping[Any, Any] = getattr(app, "exception_handlers", None) or {}
    handler = next((handlers[cls] for cls in type(exc).__mro__ if cls in handlers), None)
    request = Request(scope, receive)
    if handler is not None:
        result = handler(request, exc)
        response = await result if inspect.isawaitable(result) else result
    elif isinstance(exc, SiyuError):  # an app without siyu's handlers: the same body
        body = {"error": {"code": exc.code, "message": exc.message, "field": exc.field}}
        response = JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))
    else:
        return False
    await response(scope, receive, send)
    return True


@router.get("/wecom/callback", response_class=PlainTextResponse, summary="WeCom URL verification")
async def verify_default(request: Request) -> PlainTextResponse:
    """Answer WeCom's URL verification for the default workspace."""
    return await run_in_threadpool(_verify, request, None)


@router.get("/wecom/callback/{workspace}", response_class=PlainTextResponse, summary="WeCom URL verification")
async def verify_workspace(request: Request, workspace: str) -> PlainTextResponse:
    """Answer WeCom's URL verification for one workspace."""
    return await run_in_threadpool(_verify, request, workspace)


@router.post("/wecom/callback", response_class=PlainTextResponse, summary="WeCom callback")
async def receive_default(request: Request, background: BackgroundTasks) -> Response:
    """Accept a WeCom callback for the default workspace."""
    return await _receive(request, None, background)


@router.post("/wecom/callback/{workspace}", response_class=PlainTextResponse, summary="WeCom callback")
async def receive_workspace(request: Request, workspace: str, background: BackgroundTasks) -> Response:
    """Accept a WeCom callback for one workspace."""
    return await _receive(request, workspace, background)

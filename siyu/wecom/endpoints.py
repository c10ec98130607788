"""The WeCom callback endpoint: URL verification (GET) and event delivery (POST).

POST verifies the signature (constant time), the timestamp window, the padding and
the receive id, parses XML with DTDs and entities refused, stores the decrypted
callback in the inbox, commits, answers 200 and only then processes it (a background
task; ``siyu wecom process-callbacks`` picks up anything a crash left pending).
Nothing is stored for a callback that fails verification.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from siyu.config import Settings, get_settings
from siyu.kit.db import get_engine, session_factory
from siyu.kit.errors import NotFound, SiyuError
from siyu.kit.scope import ensure_workspace
from siyu.models import Workspace
from siyu.wecom.callbacks.inbox import parse_event
from siyu.wecom.callbacks.processing import drain
from siyu.wecom.callbacks.writer import writer_for
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


def _factory(settings: Settings) -> sessionmaker[Session]:
    return session_factory(get_engine(settings))


def _target(settings: Settings, slug: str | None) -> _Target:
    slug = slug or settings.default_workspace
    key = (settings.database_url, slug)
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and hit.expires > now:
        return hit
    with _resolve_lock:
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


def _params(request: Request, *names: str) -> list[str]:
    values = [request.query_params.get(n, "") for n in names]
    missing = [n for n, v in zip(names, values, strict=True) if not v]
    if missing:
        raise CallbackError(f"query parameter {', '.join(missing)} is missing", field=missing[0])
    return values


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


async def _receive(request: Request, slug: str | None, background: BackgroundTasks) -> Response:
    settings = _settings(request)
    sig, ts, nonce = _params(request, "msg_signature", "timestamp", "nonce")
    target = _cached_target(settings, slug)
    if target is None:
        target = await run_in_threadpool(_target, settings, slug)
    body = await request.body()
    if len(body) > MAX_BODY:
        raise CallbackError(f"the callback body is {len(body)} bytes, more than {MAX_BODY}")
    # Verification and parsing are CPU-only (~0.3 ms): done here, off the database path.
    xml_text = target.crypto.decrypt_post(sig, ts, nonce, body)
    ev = parse_event(xml_text)
    factory = _factory(settings)
    writer = writer_for(settings.database_url, factory)
    # Answer only after the callback is committed (group commit with concurrent ones).
    # WeCom gives up after 5 s and retries; a late commit then dedups the retry.
    try:
        await asyncio.wait_for(
            writer.store(workspace_id=target.workspace_id, xml_text=xml_text, ev=ev), STORE_TIMEOUT
        )
    except TimeoutError as exc:
        raise InboxBusy("the callback inbox is busy; WeCom will retry") from exc
    # An ingest-only deployment (SIYU_WECOM_PROCESS_AFTER_ACCEPT=false) leaves processing
    # to `siyu wecom process-callbacks --follow` workers, so bursts never slow the 200s.
    process = getattr(request.app.state, "wecom_process_in_background", settings.wecom_process_after_accept)
    # Also after a duplicate: the first delivery may have timed out before processing.
    if ev.handled and process:
        background.add_task(drain, factory, settings.database_url)
    # WeCom needs a 200 with any body; "success" is what its samples answer.
    return PlainTextResponse("success")


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

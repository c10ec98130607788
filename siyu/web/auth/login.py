"""Password login that a flood cannot turn against other users.

Three short transactions, and no database connection held while a password is hashed:

1. read: the workspace and the attempt counters; a name or address over its limit is
   answered 429 at once (no hash, no write);
2. write: take a slot in both counters atomically (``INSERT … ON CONFLICT DO UPDATE …
   RETURNING`` on PostgreSQL and SQLite alike), refusing when either is over its limit;
   read the user's hash;
3. hash (Argon2id, at most ``login_max_concurrent_hashes`` at once per process);
4. write: the failure (audit ``auth.login_failed``) or the session, ``auth.login`` and a
   reset of the account's counter.

Slots are taken before hashing, so the limit holds for tries that arrive in parallel
and across worker processes: at most ``login_max_failures_per_account`` hashes per
account and ``login_max_failures_per_address`` per address in a window.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import threading
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request, Response
from sqlalchemy import case, delete, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from siyu.config import Settings, get_settings
from siyu.kit import audit
from siyu.kit.db import begin_write, session_scope
from siyu.kit.timeutil import utcnow
from siyu.kit.types import UTCDateTime
from siyu.models import LoginThrottle, User, UserSession, Workspace
from siyu.web.auth.csrf import csrf_token_for_session
from siyu.web.auth.errors import RateLimited, Unauthenticated
from siyu.web.auth.passwords import hash_password, needs_rehash, verify_password
from siyu.web.auth.sessions import login_session

log = logging.getLogger(__name__)
WRONG = "wrong user name or password"
HASH_WAIT_SECONDS = 10
# Ended or expired sessions are kept this long (for "who was logged in when"), then deleted.
KEEP_OLD_SESSIONS = timedelta(days=30)
# About one login in this many also deletes stale counters and old sessions.
PRUNE_ONE_IN = 100


@dataclass(frozen=True)
class LoginResult:
    """A successful login: the user (detached), the workspace slug and the new session."""

    user: User
    workspace: str
    sid: str
    csrf_token: str


@dataclass(frozen=True)
class _Key:
    kind: str  # account | address
    key: str
    limit: int


def _keys(workspace_id: int, name: str, ip: str, settings: Settings) -> list[_Key]:
    account = hashlib.sha256(f"account\x1f{workspace_id}\x1f{name.strip().lower()}".encode()).hexdigest()
    address = hashlib.sha256(f"address\x1f{ip}".encode()).hexdigest()
    keys = [
        _Key("account", account, settings.login_max_failures_per_account),
        _Key("address", address, settings.login_max_failures_per_address),
    ]
    return sorted(keys, key=lambda k: k.key)  # one lock order for every login


def _refusal(kind: str, name: str, retry_after: int) -> RateLimited:
    minutes = (retry_after + 59) // 60
    if kind == "account":
        message = f"too many failed logins for {name!r}; try again in {minutes} minute(s)"
    else:
        message = f"too many failed logins from this address; try again in {minutes} minute(s)"
    return RateLimited(message, retry_after=max(retry_after, 1), field="name")


def _check_counters(db: Session, keys: list[_Key], name: str, window: timedelta) -> None:
    """Refuse at once (no write) when a counter is already full."""
    now = utcnow()
    rows = db.execute(
        select(LoginThrottle.key, LoginThrottle.attempts, LoginThrottle.window_start).where(
            LoginThrottle.key.in_([k.key for k in keys])
        )
    ).all()
    by_key = {k.key: k for k in keys}
    for key, attempts, start in rows:
        spec = by_key[key]
        if start > now - window and attempts >= spec.limit:
            raise _refusal(spec.kind, name, int((start + window - now).total_seconds()) + 1)


def _take_slots(db: Session, keys: list[_Key], name: str, window: timedelta) -> None:
    """Count this try in every counter, atomically; refuse when one goes over its limit.

    The caller rolls the transaction back on refusal, so a refused try takes no slot.
    """
    now = utcnow()
    cutoff = now - window
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    for spec in keys:
        stale = LoginThrottle.window_start <= cutoff
        upsert = insert(LoginThrottle).values(key=spec.key, window_start=now, attempts=1)
        stmt = upsert.on_conflict_do_update(
            index_elements=[LoginThrottle.key],
            set_={
                "attempts": case((stale, 1), else_=LoginThrottle.attempts + 1),
                "window_start": case((stale, literal(now, UTCDateTime())), else_=LoginThrottle.window_start),
            },
        ).returning(LoginThrottle.attempts, LoginThrottle.window_start)
        attempts, start = db.execute(stmt).one()
        if attempts > spec.limit:
            raise _refusal(spec.kind, name, int((start + window - now).total_seconds()) + 1)


def prune_stale(db: Session, *, window: timedelta) -> tuple[int, int]:
    """Delete counters whose window has passed and sessions over 30 days past their end.

    Returns (counters, sessions) deleted. Run now and then by logins, so that neither
    table grows with every name and address ever tried.
    """
    now = utcnow()
    counters = db.execute(delete(LoginThrottle).where(LoginThrottle.window_start <= now - window))
    old = now - KEEP_OLD_SESSIONS
    sessions = db.execute(
        delete(UserSession).where((UserSession.expires_at <= old) | (UserSession.ended_at <= old))
    )
    return int(getattr(counters, "rowcount", 0) or 0), int(getattr(sessions, "rowcount", 0) or 0)


def _prune_quietly(window: timedelta) -> None:
    # Its own short transaction: housekeeping must never fail or slow down a login.
    try:
        with session_scope() as db:
            begin_write(db)
            prune_stale(db, window=window)
    except DBAPIError:
        log.warning("pruning login counters and old sessions failed; the next login retries", exc_info=True)


_hash_gate: threading.BoundedSemaphore | None = None
_hash_gate_lock = threading.Lock()


def _gate(settings: Settings) -> threading.BoundedSemaphore:
    global _hash_gate
    with _hash_gate_lock:
        if _hash_gate is None:
            size = settings.login_max_concurrent_hashes or max(2, os.cpu_count() or 2)
            _hash_gate = threading.BoundedSemaphore(size)
        return _hash_gate


def _verify(password_hash: str | None, password: str, settings: Settings) -> bool:
    gate = _gate(settings)
    if not gate.acquire(timeout=HASH_WAIT_SECONDS):
        raise RateLimited(
            "the server is busy checking other logins; try again in a few seconds", retry_after=5
        )
    try:
        return verify_password(password_hash, password)
    finally:
        gate.release()


def password_login(
    response: Response,
    *,
    request: Request | None,
    workspace: str,
    name: str,
    password: str,
    ip: str,
) -> LoginResult:
    """Check a name and password and start a console session (cookie set on ``response``).

    Unauthenticated (401) when wrong; RateLimited (429, before any hashing) when the
    account or the address has used up its tries in the window.
    """
    settings = get_settings()
    window = timedelta(minutes=settings.login_window_minutes)
    name = name.strip()
    with session_scope() as db:
        ws = db.scalar(select(Workspace).where(Workspace.slug == workspace))
        if ws is None:
            # Same answer as a wrong password: do not reveal which workspaces exist.
            raise Unauthenticated(WRONG, field="password")
        ws_id, ws_slug = ws.id, ws.slug
        keys = _keys(ws_id, name, ip, settings)
        _check_counters(db, keys, name, window)
    with session_scope() as db:
        begin_write(db)
        _take_slots(db, keys, name, window)
        found = db.execute(
            select(User.id, User.password_hash, User.disabled).where(
                User.workspace_id == ws_id, User.name == name
            )
        ).first()
    if random.randrange(PRUNE_ONE_IN) == 0:
        _prune_quietly(window)
    stored_hash = found.password_hash if found is not None else None
    ok = _verify(stored_hash, password, settings) and found is not None and not found.disabled
    new_hash = hash_password(password) if ok and stored_hash and needs_rehash(stored_hash) else None
    account_key = next(k.key for k in keys if k.kind == "account")
    address_key = next(k.key for k in keys if k.kind == "address")
    with session_scope() as db:
        begin_write(db)
        user = db.get(User, found.id) if ok and found is not None else None
        if user is None or user.disabled or user.password_hash != stored_hash:
            audit.record(
                db,
                workspace_id=ws_id,
                actor="anonymous",
                action="auth.login_failed",
                target_type="login",
                target_id=account_key[:40],
                detail={"name": name[:100], "ip": ip, "known_user": found is not None},
            )
            db.commit()
            raise Unauthenticated(WRONG, field="password")
        if new_hash is not None:
            user.password_hash = new_hash
        user.last_login_at = utcnow()
        # A success resets the account's count and does not count against the address.
        db.execute(delete(LoginThrottle).where(LoginThrottle.key == account_key))
        db.execute(
            update(LoginThrottle)
            .where(LoginThrottle.key == address_key, LoginThrottle.attempts > 0)
            .values(attempts=LoginThrottle.attempts - 1)
        )
        sid = login_session(response, user, db, request=request, ip=ip, settings=settings)
        audit.record(
            db,
            workspace_id=ws_id,
            actor=f"user:{user.id}",
            action="auth.login",
            target_type="login",
            target_id=account_key[:40],
            detail={"name": user.name, "ip": ip},
        )
    return LoginResult(
        user=user, workspace=ws_slug, sid=sid, csrf_token=csrf_token_for_session(sid, settings)
    )


def client_ip(request: Request) -> str:
    """The caller's address (behind a proxy, run uvicorn with --proxy-headers)."""
    return request.client.host if request.client else "unknown"

"""Console sessions: a signed cookie naming a server-side session row.

The cookie (HttpOnly, SameSite=Lax, Secure unless served on localhost) carries the
user id, a random session id (the CSRF token derives from it), an expiry and a
fingerprint of the password hash. The session id's SHA-256 is a ``user_sessions`` row:
a cookie is honoured only while that row exists, has not ended and has not expired, so
logout, disabling a user, a password or role change, or an admin ends a session on
the server (a copied cookie stops working too).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from ipaddress import ip_address
from typing import Any

from fastapi import Request, Response
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.config import Settings, get_settings
from siyu.kit.timeutil import utcnow
from siyu.models import User, UserSession

SESSION_COOKIE = "siyu_session"
SESSION_TTL_SECONDS = 12 * 3600
# Touch ``last_seen_at`` at most this often: one write per request would be wasteful.
SEEN_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class SessionData:
    """What a valid session cookie says."""

    user_id: int
    workspace_id: int
    sid: str
    expires_at: int
    password_fingerprint: str


def _key(settings: Settings, purpose: bytes) -> bytes:
    return hmac.new(settings.secret_key.encode(), b"siyu/web/" + purpose, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def password_fingerprint(user: User) -> str:
    """A short digest of the password hash: a new password invalidates old cookies."""
    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:16]


def sign(payload: dict[str, Any], settings: Settings | None = None) -> str:
    """``payload.signature``, both base64url; HMAC-SHA256 with a key derived from the secret."""
    settings = settings or get_settings()
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(_key(settings, b"session"), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def unsign(value: str, settings: Settings | None = None) -> dict[str, Any] | None:
    """The payload of a signed value, or None if it was tampered with or malformed."""
    settings = settings or get_settings()
    body, _, mac = value.partition(".")
    if not body or not mac or len(value) > 4096:
        return None
    expected = hmac.new(_key(settings, b"session"), body.encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(expected, _unb64(mac)):
            return None
        payload = json.loads(_unb64(body))
    except (ValueError, TypeError):
        return None
    return payload if isinstance(payload, dict) else None


def read_session(request: Request, settings: Settings | None = None) -> SessionData | None:
    """The unexpired session in the request's cookie, or None (the user is not checked)."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    payload = unsign(raw, settings)
    if payload is None:
        return None
    try:
        data = SessionData(
            user_id=int(payload["u"]),
            workspace_id=int(payload["w"]),
            sid=str(payload["s"]),
            expires_at=int(payload["e"]),
            password_fingerprint=str(payload["p"]),
        )
    except (KeyError, TypeError, ValueError):
        return None
    if data.expires_at < time.time():
        return None
    return data


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def cookie_secure(request: Request | None, settings: Settings | None = None) -> bool:
    """Whether cookies get the ``Secure`` flag.

    ``SIYU_SESSION_COOKIE_SECURE`` decides when set. Unset: Secure unless the console is
    served on localhost, i.e. unless the request is plain HTTP to a loopback host name
    or address and came through no proxy (no ``X-Forwarded-*`` headers).
    """
    settings = settings or get_settings()
    if settings.session_cookie_secure is not None:
        return settings.session_cookie_secure
    if request is None:
        return True
    if request.url.scheme == "https":
        return True
    headers = request.headers
    if any(h in headers for h in ("x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "forwarded")):
        return True
    return not _is_loopback(request.url.hostname)


def sid_hash(sid: str) -> str:
    """What is stored of a session id: its SHA-256 (the id itself is a bearer secret)."""
    return hashlib.sha256(sid.encode()).hexdigest()


def login_session(
    response: Response,
    user: User,
    db: Session,
    *,
    request: Request | None = None,
    ip: str | None = None,
    settings: Settings | None = None,
) -> str:
    """Start a server-side session for ``user`` and set its cookie; returns the session id."""
    settings = settings or get_settings()
    sid = secrets.token_urlsafe(18)
    now = utcnow()
    agent = request.headers.get("user-agent") if request is not None else None
    db.add(
        UserSession(
            workspace_id=user.workspace_id,
            user_id=user.id,
            sid_hash=sid_hash(sid),
            ip=(ip or "")[:64] or None,
            user_agent=agent[:300] if agent else None,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=SESSION_TTL_SECONDS),
        )
    )
    value = sign(
        {
            "u": user.id,
            "w": user.workspace_id,
            "s": sid,
            "e": int(time.time()) + SESSION_TTL_SECONDS,
            "p": password_fingerprint(user),
        },
        settings,
    )
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=SESSION_TTL_SECONDS,
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request, settings),
        path="/",
    )
    return sid


def live_session(db: Session, data: SessionData) -> UserSession | None:
    """The session row behind a valid cookie, or None when it was ended or has expired."""
    row = db.scalar(select(UserSession).where(UserSession.sid_hash == sid_hash(data.sid)))
    now = utcnow()
    if row is None or row.ended_at is not None or row.expires_at <= now or row.user_id != data.user_id:
        return None
    if row.last_seen_at is None or now - row.last_seen_at > SEEN_EVERY:
        row.last_seen_at = now
    return row


def end_session(db: Session, sid: str, *, reason: str) -> bool:
    """End one session by its id (logout); True if it was still open."""
    result = db.execute(
        update(UserSession)
        .where(UserSession.sid_hash == sid_hash(sid), UserSession.ended_at.is_(None))
        .values(ended_at=utcnow(), ended_reason=reason)
    )
    return bool(getattr(result, "rowcount", 0))


def end_user_sessions(db: Session, *, user_id: int, reason: str, session_ids: list[int] | None = None) -> int:
    """End every open session of a user (or only ``session_ids`` of them); returns how many."""
    stmt = update(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
    if session_ids is not None:
        stmt = stmt.where(UserSession.id.in_(session_ids))
    result = db.execute(stmt.values(ended_at=utcnow(), ended_reason=reason))
    return int(getattr(result, "rowcount", 0) or 0)


def open_sessions(db: Session, *, workspace_id: int, user_id: int | None = None) -> list[UserSession]:
    """The workspace's sessions that are neither ended nor expired, newest first."""
    stmt = select(UserSession).where(
        UserSession.workspace_id == workspace_id,
        UserSession.ended_at.is_(None),
        UserSession.expires_at > utcnow(),
    )
    if user_id is not None:
        stmt = stmt.where(UserSession.user_id == user_id)
    return list(db.scalars(stmt.order_by(UserSession.id.desc())))


def logout_session(
    response: Response, request: Request | None = None, settings: Settings | None = None
) -> None:
    """Remove the session cookie (the caller ends the server-side session)."""
    settings = settings or get_settings()
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=cookie_secure(request, settings)
    )

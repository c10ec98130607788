"""Signed console session cookies (HttpOnly, SameSite=Lax, Secure when configured).

The cookie carries the user id, a random session id (the CSRF token derives from it),
an expiry and a fingerprint of the password hash, so that changing a password or
disabling a user ends every session at once without a sessions table.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response

from siyu.config import Settings, get_settings
from siyu.models import User

SESSION_COOKIE = "siyu_session"
SESSION_TTL_SECONDS = 12 * 3600


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


def login_session(response: Response, user: User, settings: Settings | None = None) -> str:
    """Set a fresh session cookie for ``user`` on ``response``; returns the session id."""
    settings = settings or get_settings()
    sid = secrets.token_urlsafe(18)
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
        secure=settings.session_cookie_secure,
        path="/",
    )
    return sid


def logout_session(response: Response, settings: Settings | None = None) -> None:
    """Remove the session cookie."""
    settings = settings or get_settings()
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=settings.session_cookie_secure
    )

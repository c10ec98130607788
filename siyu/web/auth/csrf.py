"""CSRF protection for console forms and cookie-authenticated writes.

Synchronizer tokens without server state: the token is an HMAC of the session id
(from the session cookie, or from a pre-login cookie for the login form itself). A
page from another site can make the browser send our cookies but cannot read the
token, so it cannot forge a valid form. Bearer-token requests need no token:
browsers never attach them on their own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request, Response

from siyu.config import Settings, get_settings
from siyu.web.auth.errors import CsrfError
from siyu.web.auth.sessions import cookie_secure, read_session

CSRF_COOKIE = "siyu_csrf"
CSRF_FORM_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def _token_for(sid: str, settings: Settings) -> str:
    key = hmac.new(settings.secret_key.encode(), b"siyu/web/csrf", hashlib.sha256).digest()
    return hmac.new(key, sid.encode(), hashlib.sha256).hexdigest()


def csrf_token_for_session(sid: str, settings: Settings | None = None) -> str:
    """The CSRF token of a session id (e.g. right after login, before the cookie is back)."""
    return _token_for(sid, settings or get_settings())


def _anonymous_sid(request: Request) -> str | None:
    value = request.cookies.get(CSRF_COOKIE)
    return value if value and 16 <= len(value) <= 64 else None


def csrf_token(request: Request, response: Response | None = None, settings: Settings | None = None) -> str:
    """The CSRF token to put in a form (hidden ``csrf_token``) or the X-CSRF-Token header.

    Logged in: derived from the session. Not logged in (the login form): derived from
    a random ``siyu_csrf`` cookie, which is set on ``response`` when missing.
    """
    settings = settings or get_settings()
    session = read_session(request, settings)
    if session is not None:
        return _token_for(session.sid, settings)
    sid = _anonymous_sid(request) or getattr(request.state, "siyu_csrf_sid", None)
    if sid is None:
        sid = secrets.token_urlsafe(24)
        request.state.siyu_csrf_sid = sid
        if response is not None:
            response.set_cookie(
                CSRF_COOKIE,
                sid,
                httponly=True,
                samesite="lax",
                secure=cookie_secure(request, settings),
                path="/",
            )
    return _token_for(sid, settings)


def valid_csrf(request: Request, token: str | None, settings: Settings | None = None) -> bool:
    """True if ``token`` matches the request's session (or pre-login cookie)."""
    if not token:
        return False
    settings = settings or get_settings()
    session = read_session(request, settings)
    sid = session.sid if session is not None else _anonymous_sid(request)
    if sid is None:
        return False
    return hmac.compare_digest(_token_for(sid, settings), token)


async def submitted_csrf(request: Request) -> str | None:
    """The token sent with a request: the X-CSRF-Token header or the form field."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FORM_FIELD)
        return value if isinstance(value, str) else None
    return None


async def verify_csrf(request: Request) -> None:
    """Raise CsrfError unless an unsafe request carries a valid token (FastAPI dependency)."""
    if request.method in SAFE_METHODS:
        return
    if not valid_csrf(request, await submitted_csrf(request)):
        raise CsrfError(
            "the form has expired or did not come from this site (CSRF check failed); "
            "reload the page and try again",
            field=CSRF_FORM_FIELD,
        )

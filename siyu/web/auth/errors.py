"""Errors of authentication and access control (mapped to 401 / 403 / 429)."""

from __future__ import annotations

from siyu.kit.errors import SiyuError


class Unauthenticated(SiyuError):
    """No valid session or token: the caller must log in (401)."""

    code = "unauthenticated"
    status_code = 401
    headers = {"WWW-Authenticate": 'Bearer realm="siyu"'}  # noqa: RUF012 - read-only class constant


class PermissionDenied(SiyuError):
    """Logged in, but the role does not allow this (403)."""

    code = "forbidden"
    status_code = 403


class CsrfError(SiyuError):
    """A console form or cookie-authenticated write without a valid CSRF token (403)."""

    code = "csrf_failed"
    status_code = 403


class RateLimited(SiyuError):
    """Too many failed logins for this name from this address (429)."""

    code = "rate_limited"
    status_code = 429

    def __init__(self, message: str, *, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}

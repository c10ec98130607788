"""Errors a user can hit: each says what is wrong and where, in plain words."""

from __future__ import annotations

from datetime import datetime


class SiyuError(Exception):
    """Base class for errors shown to users (CLI exit code 2, HTTP 4xx)."""

    code = "error"
    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(SiyuError):
    code = "not_found"
    status_code = 404


class Invalid(SiyuError):
    code = "invalid"
    status_code = 422


class Forbidden(SiyuError):
    code = "forbidden"
    status_code = 403


class Conflict(SiyuError):
    code = "conflict"
    status_code = 409


class RetryAt(Exception):
    """Raised by a job that cannot make progress before ``at`` (another worker's call is
    still in flight, say): the runner queues it again for ``at`` without using up one of
    its tries, instead of counting a failure and backing off."""

    def __init__(self, message: str, *, at: datetime) -> None:
        super().__init__(message)
        self.message = message
        self.at = at

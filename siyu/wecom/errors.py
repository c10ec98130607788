"""Typed WeCom API errors: one exception class per errcode family.

WeCom answers HTTP 200 with ``{"errcode": N, "errmsg": "..."}``; the client turns a
non-zero errcode into one of these so callers can catch what they can handle
(``NoRelation`` for a customer who deleted the staff, ``WelcomeCodeInvalid`` for a
stale welcome code) and let the rest surface with the API name and errcode.
"""

from __future__ import annotations

# Errcodes the client handles itself (retry or token refetch).
RETRYABLE_ERRCODES = frozenset({-1, 45009, 45033})
TOKEN_ERRCODES = frozenset({40014, 42001})


class WeComError(Exception):
    """Any failure talking to WeCom; carries the API path and errcode when known."""

    errcode: int | None = None

    def __init__(self, message: str, *, api: str = "", errcode: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.api = api
        if errcode is not None:
            self.errcode = errcode

    def __str__(self) -> str:
        where = f" ({self.api})" if self.api else ""
        code = f" [errcode {self.errcode}]" if self.errcode is not None else ""
        return f"{self.message}{where}{code}"


class WeComNetworkError(WeComError):
    """WeCom could not be reached (connection, timeout, HTTP 5xx) after retries."""


class WeComAPIError(WeComError):
    """WeCom answered with a non-zero errcode."""


class InvalidCredential(WeComAPIError):
    """40001: the corp secret is wrong (or the app was deleted)."""


class InvalidCorpId(WeComAPIError):
    """40013: the corp id is wrong."""


class InvalidToken(WeComAPIError):
    """40014 / 42001: the access token is invalid or expired (after one refetch)."""


class RateLimited(WeComAPIError):
    """45009 / 45033 / -1: WeCom is busy or our frequency is too high (after retries)."""


class InvalidParameter(WeComAPIError):
    """A request field was refused (40058 and friends); ``errmsg`` names the field."""


class InvalidExternalUser(WeComAPIError):
    """40096: the external_userid is not valid for this corp."""


class NoRelation(WeComAPIError):
    """84061: the staff and the customer are not (or no longer) friends."""


class NoPermission(WeComAPIError):
    """48002 / 48001 / 60011: the app or the staff lacks the customer-contact permission."""


class IPNotTrusted(WeComAPIError):
    """60020: the calling IP is not on the app's trusted list."""


class UserNotFound(WeComAPIError):
    """60111: the staff userid does not exist."""


class WelcomeCodeInvalid(WeComAPIError):
    """41051: the welcome code was already used or its 20 seconds are over."""


class CustomerLimitExceeded(WeComAPIError):
    """41054 / 40130 family: the staff account is at its customer limit."""


class NotFound(WeComAPIError):
    """41044 / 41046 / 40068 / 90207: the tag, live code, message or chat does not exist."""


class QuotaExceeded(WeComAPIError):
    """45xxx quota: too many live codes, mass sends or reminders."""


_BY_CODE: dict[int, type[WeComAPIError]] = {
    40001: InvalidCredential,
    40013: InvalidCorpId,
    40014: InvalidToken,
    42001: InvalidToken,
    -1: RateLimited,
    45009: RateLimited,
    45033: RateLimited,
    40058: InvalidParameter,
    40003: UserNotFound,
    60111: UserNotFound,
    40096: InvalidExternalUser,
    84061: NoRelation,
    48001: NoPermission,
    48002: NoPermission,
    60011: NoPermission,
    60020: IPNotTrusted,
    41051: WelcomeCodeInvalid,
    41054: CustomerLimitExceeded,
    40068: NotFound,
    41044: NotFound,
    41046: NotFound,
    90207: NotFound,
    41063: NotFound,
    45024: QuotaExceeded,
    45035: QuotaExceeded,
    41062: QuotaExceeded,
}


def error_for(errcode: int, errmsg: str, *, api: str = "") -> WeComAPIError:
    """The exception for a WeCom errcode (``WeComAPIError`` for codes we do not name)."""
    cls = _BY_CODE.get(errcode, WeComAPIError)
    return cls(errmsg or f"WeCom error {errcode}", api=api, errcode=errcode)

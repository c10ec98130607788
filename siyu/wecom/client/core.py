"""Transport of the WeCom client: access tokens, rate limits, retries, errcodes.

Every API call goes through ``BaseClient.call``:

1. take a token from the (corp, API) rate-limit buckets;
2. attach a cached access token (fetched once per app, refreshed early);
3. on 40014/42001 drop the token, refetch it exactly once and repeat the call once;
4. on -1/45009/45033, connection errors and HTTP 5xx retry up to 3 times with
   jittered exponential backoff;
5. turn any other non-zero errcode into a typed exception from ``siyu.wecom.errors``.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from siyu.wecom.client.ratelimit import RateLimiter, shared_limiter
from siyu.wecom.errors import (
    RETRYABLE_ERRCODES,
    TOKEN_ERRCODES,
    InvalidToken,
    WeComAPIError,
    WeComError,
    WeComNetworkError,
    error_for,
)
from siyu.wecom.schemas import Response, TokenResponse

log = logging.getLogger("siyu.wecom.client")

R = TypeVar("R", bound=Response)

MAX_RETRIES = 3
# Refresh a token this long before WeCom says it expires (clock skew, slow calls).
EARLY_REFRESH_S = 300.0


@dataclass
class _CachedToken:
    value: str
    expires_at: float


class TokenCache:
    """Access tokens per app (api base + corp id + secret), shared by all clients.

    One lock per app so that many threads needing a token cause one ``gettoken``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, _CachedToken] = {}
        self._app_locks: dict[str, threading.Lock] = {}

    def app_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._app_locks.setdefault(key, threading.Lock())

    def get(self, key: str, now: float) -> str | None:
        cached = self._tokens.get(key)
        if cached is None or cached.expires_at <= now:
            return None
        return cached.value

    def put(self, key: str, value: str, expires_at: float) -> None:
        self._tokens[key] = _CachedToken(value, expires_at)

    def invalidate(self, key: str, value: str) -> None:
        """Drop ``value`` unless another thread already replaced it."""
        cached = self._tokens.get(key)
        if cached is not None and cached.value == value:
            del self._tokens[key]

    def clear(self) -> None:
        self._tokens.clear()


_token_cache = TokenCache()


def shared_token_cache() -> TokenCache:
    """The process-wide token cache."""
    return _token_cache


class BaseClient:
    """HTTP plumbing for one WeCom app (corp id + secret)."""

    def __init__(
        self,
        *,
        corp_id: str,
        secret: str,
        api_base: str = "https://qyapi.weixin.qq.com",
        http: httpx.Client | None = None,
        timeout: float = 10.0,
        token_cache: TokenCache | None = None,
        limiter: RateLimiter | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        backoff_base: float = 0.5,
    ) -> None:
        if not corp_id:
            raise WeComError("no WeCom corp id configured (set SIYU_WECOM_CORP_ID)")
        if not secret:
            raise WeComError("no WeCom secret configured (set SIYU_WECOM_SECRET)")
        self.corp_id = corp_id
        self.api_base = api_base.rstrip("/")
        self._secret = secret
        self._own_http = http is None
        self._http = http or httpx.Client(timeout=timeout)
        self._tokens = token_cache or shared_token_cache()
        self._limiter = limiter or shared_limiter()
        self._clock = clock
        self._sleep = sleep
        self._backoff_base = backoff_base
        secret_digest = hashlib.sha256(secret.encode()).hexdigest()[:16]
        self._app_key = f"{self.api_base}|{corp_id}|{secret_digest}"
        self.calls = 0

    def close(self) -> None:
        if self._own_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- tokens ----------------------------------------------------------------------

    def access_token(self) -> str:
        """A valid access token, from the cache or from one ``gettoken`` call."""
        token = self._tokens.get(self._app_key, self._clock())
        if token is not None:
            return token
        with self._tokens.app_lock(self._app_key):
            # Another thread may have fetched it while we waited for the lock.
            token = self._tokens.get(self._app_key, self._clock())
            if token is not None:
                return token
            data = self._send("GET", "gettoken", params={"corpid": self.corp_id, "corpsecret": self._secret})
            parsed = self._parse("gettoken", data, TokenResponse)
            lifetime = max(parsed.expires_in - EARLY_REFRESH_S, parsed.expires_in / 2)
            self._tokens.put(self._app_key, parsed.access_token, self._clock() + lifetime)
            return parsed.access_token

    # --- calls -----------------------------------------------------------------------

    def call(
        self,
        api: str,
        model: type[R],
        *,
        body: dict[str, Any] | BaseModel | None = None,
        params: dict[str, Any] | None = None,
        method: str | None = None,
    ) -> R:
        """Call ``/cgi-bin/<api>`` and parse the answer into ``model`` (or raise)."""
        if isinstance(body, BaseModel):
            payload: dict[str, Any] | None = body.model_dump(exclude_none=True, by_alias=True)
        else:
            payload = body
        verb = method or ("POST" if payload is not None else "GET")
        self._limiter.acquire(f"{self.corp_id}|{api}")
        refetched = False
        while True:
            token = self.access_token()
            query = {**(params or {}), "access_token": token}
            data = self._send(verb, api, params=query, json=payload)
            errcode = int(data.get("errcode", 0) or 0)
            if errcode in TOKEN_ERRCODES and not refetched:
                # The token died early (rotated secret, another process refreshed it).
                log.info("wecom %s: token rejected (errcode %s), refetching once", api, errcode)
                self._tokens.invalidate(self._app_key, token)
                refetched = True
                continue
            if errcode in TOKEN_ERRCODES:
                raise InvalidToken(str(data.get("errmsg", "")), api=api, errcode=errcode)
            return self._parse(api, data, model)

    def _send(
        self, verb: str, api: str, *, params: dict[str, Any], json: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """One logical request, retried on network errors and WeCom's busy codes."""
        url = f"{self.api_base}/cgi-bin/{api}"
        attempt = 0
        while True:
            failure: str
            errcode: int | None = None
            try:
                self.calls += 1
                resp = self._http.request(verb, url, params=params, json=json)
                if resp.status_code >= 500:
                    failure = f"HTTP {resp.status_code}"
                else:
                    if resp.status_code >= 400:
                        raise WeComNetworkError(f"HTTP {resp.status_code} from WeCom", api=api)
                    data = _json(resp, api)
                    errcode = int(data.get("errcode", 0) or 0)
                    if errcode not in RETRYABLE_ERRCODES:
                        return data
                    failure = f"errcode {errcode}: {data.get('errmsg', '')}"
            except httpx.TransportError as exc:
                failure = f"{type(exc).__name__}: {exc}"
            if attempt >= MAX_RETRIES:
                if errcode is not None:
                    raise error_for(errcode, f"WeCom still busy after {MAX_RETRIES} retries", api=api)
                raise WeComNetworkError(f"WeCom unreachable after {MAX_RETRIES} retries ({failure})", api=api)
            delay = self.backoff(attempt)
            log.warning("wecom %s failed (%s); retry %d in %.2fs", api, failure, attempt + 1, delay)
            self._sleep(delay)
            attempt += 1

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff: uniform(0, base * 2**attempt), at least 10%."""
        cap = self._backoff_base * (2**attempt)
        return random.uniform(cap * 0.1, cap)

    @staticmethod
    def _parse(api: str, data: dict[str, Any], model: type[R]) -> R:
        errcode = int(data.get("errcode", 0) or 0)
        if errcode != 0:
            raise error_for(errcode, str(data.get("errmsg", "")), api=api)
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise WeComAPIError(
                f"unexpected answer from WeCom: field {where!r}: {first['msg']}", api=api
            ) from exc


def _json(resp: httpx.Response, api: str) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError as exc:
        raise WeComAPIError("WeCom answered with something that is not JSON", api=api) from exc
    if not isinstance(data, dict):
        raise WeComAPIError("WeCom answered with JSON that is not an object", api=api)
    return data

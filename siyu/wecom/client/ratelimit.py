"""Client-side rate limiting: token buckets kept below WeCom's published limits.

WeCom allows 10,000 calls per minute and 150,000 per hour per API per corp, and a
breach blocks the API for a while. Each (corp, API) pair gets one bucket per window;
a call takes a token from both and waits when either is empty, so a big sync slows
down instead of getting the corp blocked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# Published limits with a safety margin (other tools of the corp share the quota).
PER_MINUTE = 9_000
PER_HOUR = 135_000


@dataclass
class TokenBucket:
    """A classic token bucket: ``capacity`` tokens, refilled at ``rate`` per second."""

    capacity: float
    rate: float
    tokens: float = field(default=-1.0)
    updated: float | None = None

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.capacity

    def wait_time(self, now: float) -> float:
        """Seconds until one token is available (0 when one is available now)."""
        self._refill(now)
        # A hair below one token counts as one: float refill must not spin on 1e-17 s waits.
        if self.tokens >= 1 - 1e-9:
            return 0.0
        return max((1 - self.tokens) / self.rate, 0.001)

    def take(self, now: float) -> None:
        self._refill(now)
        self.tokens -= 1

    def _refill(self, now: float) -> None:
        if self.updated is not None:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now


class RateLimiter:
    """Per-key pair of buckets (per minute and per hour); thread-safe, blocking."""

    def __init__(
        self,
        *,
        per_minute: int = PER_MINUTE,
        per_hour: int = PER_HOUR,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.per_minute = per_minute
        self.per_hour = per_hour
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[TokenBucket, TokenBucket]] = {}

    def acquire(self, key: str) -> float:
        """Take one call's worth for ``key``, sleeping as needed; returns seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                pair = self._buckets.get(key)
                if pair is None:
                    pair = (
                        TokenBucket(self.per_minute, self.per_minute / 60.0),
                        TokenBucket(self.per_hour, self.per_hour / 3600.0),
                    )
                    self._buckets[key] = pair
                now = self._clock()
                delay = max(bucket.wait_time(now) for bucket in pair)
                if delay <= 0:
                    for bucket in pair:
                        bucket.take(now)
                    return waited
            self._sleep(delay)
            waited += delay


_shared = RateLimiter()


def shared_limiter() -> RateLimiter:
    """The process-wide limiter: every client of a corp shares one budget."""
    return _shared

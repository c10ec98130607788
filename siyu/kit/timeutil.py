"""Time helpers: everything stored is UTC; business days use the workspace zone."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_TZ = "Asia/Shanghai"


def _system_now() -> datetime:
    return datetime.now(UTC)


_now: Callable[[], datetime] = _system_now


def utcnow() -> datetime:
    """The current time, timezone-aware UTC: the one clock every domain reads.

    Tests move it with :func:`moved_clock`; the job scheduler, due jobs and SOP delays
    all read this, so a test can jump to "three days later, 20:00" without sleeping.
    """
    return _now()


@contextmanager
def moved_clock(to: datetime | Callable[[], datetime]) -> Iterator[Callable[[timedelta], None]]:
    """Run with the clock at ``to`` (a fixed aware instant, or a function giving one).

    Yields ``advance(delta)``, which moves a fixed clock forward. The system clock is
    back when the block ends.
    """
    global _now
    if callable(to):
        fn = to
        state: list[datetime] = []
    else:
        if to.tzinfo is None:
            raise ValueError("moved_clock needs an aware datetime")
        state = [to.astimezone(UTC)]

        def fn() -> datetime:
            return state[0]

    def advance(delta: timedelta) -> None:
        if not state:
            raise ValueError("only a fixed clock can be advanced")
        state[0] += delta

    previous, _now = _now, fn
    try:
        yield advance
    finally:
        _now = previous


def zone(name: str | None = None) -> ZoneInfo:
    return ZoneInfo(name or DEFAULT_TZ)


def local_to_utc(value: datetime, tz: str | None = None) -> datetime:
    """Attach the workspace zone to a naive local time and convert it to UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone(tz))
    return value.astimezone(UTC)


def local_day(value: datetime, tz: str | None = None) -> date:
    """The business day (in the workspace zone) of a UTC instant."""
    return value.astimezone(zone(tz)).date()


def day_start_utc(day: date, tz: str | None = None) -> datetime:
    """Midnight of a business day in the workspace zone, as UTC."""
    return datetime.combine(day, time.min, tzinfo=zone(tz)).astimezone(UTC)


def days_between(earlier: datetime, later: datetime) -> int:
    """Whole days from ``earlier`` to ``later`` (floor)."""
    return (later - earlier) // timedelta(days=1)

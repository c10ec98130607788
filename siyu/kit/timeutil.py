"""Time helpers: everything stored is UTC; business days use the workspace zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_TZ = "Asia/Shanghai"


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


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

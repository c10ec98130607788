"""Workspace knobs of outbound sends, read from ``Workspace.settings["outbound"]``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from siyu.kit.errors import Invalid

SETTINGS_KEY = "outbound"
QUOTA_MODES = ("month_days", "week7", "day1", "month4")
# WeCom counts its per-customer quota in China time.
CN = timedelta(hours=8)


@dataclass(frozen=True)
class OutboundKnobs:
    freq_cap_per_7d: int = 2
    wecom_quota: str = "month_days"
    holdout_pct: int = 10
    approval_over: int = 20_000
    quiet_start: time | None = time(22, 0)
    quiet_end: time | None = time(8, 0)
    confirm_hours: int = 72


def _int(raw: Mapping[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise Invalid(f"{key} is a whole number from {lo} to {hi}", field=f"settings.outbound.{key}")
    return value


def parse_quiet(text: str | None) -> tuple[time | None, time | None]:
    """``"22:00-08:00"`` → (22:00, 08:00); empty → no quiet hours."""
    if not text:
        return None, None
    try:
        start, end = (time.fromisoformat(p.strip()) for p in text.split("-", 1))
    except ValueError as exc:
        raise Invalid("quiet hours look like 22:00-08:00", field="settings.outbound.quiet_hours") from exc
    return start, end


def knobs_from_settings(settings: Mapping[str, Any] | None) -> OutboundKnobs:
    raw = (settings or {}).get(SETTINGS_KEY) or {}
    if not isinstance(raw, Mapping):
        raise Invalid("workspace setting 'outbound' must be an object", field="settings.outbound")
    mode = raw.get("wecom_quota", "month_days")
    if mode not in QUOTA_MODES:
        raise Invalid(
            f"wecom_quota is one of {', '.join(QUOTA_MODES)}, not {mode!r}",
            field="settings.outbound.wecom_quota",
        )
    quiet = parse_quiet(raw["quiet_hours"]) if "quiet_hours" in raw else (time(22, 0), time(8, 0))
    return OutboundKnobs(
        freq_cap_per_7d=_int(raw, "freq_cap_per_7d", 2, 1, 100),
        wecom_quota=mode,
        holdout_pct=_int(raw, "holdout_pct", 10, 0, 50),
        approval_over=_int(raw, "approval_over", 20_000, 0, 100_000_000),
        quiet_start=quiet[0],
        quiet_end=quiet[1],
        confirm_hours=_int(raw, "confirm_hours", 72, 1, 24 * 30),
    )


def quota_window(mode: str, at: datetime) -> tuple[datetime, datetime, int]:
    """WeCom's per-customer quota period containing ``at``: (start, end, messages allowed)."""
    local = at.astimezone(UTC) + CN
    if mode == "day1":
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        end, allowed = start + timedelta(days=1), 1
    elif mode == "week7":
        start = (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
        end, allowed = start + timedelta(days=7), 7
    else:
        start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
        allowed = 4 if mode == "month4" else (end - start).days
    return start - CN, end - CN, allowed


def in_quiet_hours(knobs: OutboundKnobs, local: datetime) -> bool:
    """Whether a local (workspace zone) time falls inside the quiet hours."""
    if knobs.quiet_start is None or knobs.quiet_end is None:
        return False
    t = local.timetz().replace(tzinfo=None)
    if knobs.quiet_start <= knobs.quiet_end:
        return knobs.quiet_start <= t < knobs.quiet_end
    return t >= knobs.quiet_start or t < knobs.quiet_end


def after_quiet_hours(knobs: OutboundKnobs, local: datetime) -> datetime:
    """The first moment at or after ``local`` outside the quiet hours."""
    if not in_quiet_hours(knobs, local) or knobs.quiet_end is None:
        return local
    end = local.replace(hour=knobs.quiet_end.hour, minute=knobs.quiet_end.minute, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)
    return end

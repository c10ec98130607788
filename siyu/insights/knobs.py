"""Workspace knobs for the metrics and the P&L, read from ``Workspace.settings["insights"]``.

Every knob has a default (docs/metrics.md); a bad value is refused naming the settings key.

```json
{"insights": {
  "working_hours": {"start": "09:00", "end": "18:00", "weekdays": [1, 2, 3, 4, 5, 6, 7]},
  "silence_minutes": 30, "reply_minutes": 10, "accept_minutes": 30,
  "exempt_words": ["谢谢", "好的", "OK"],
  "conversion_days": 30,
  "platform_fee_rates": {"taobao": 0.05},
  "account_cost_yuan": {"alice": 3000},
  "discount_in_paid": true,
  "send_cost_yuan": 0,
  "score_weights": {"pass": 1, "reply": 1, "coverage": 1, "tasks": 1}
}}
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from siyu.kit.errors import Invalid
from siyu.kit.timeutil import zone

SETTINGS_KEY = "insights"
DEFAULT_EXEMPT = (
    "谢谢",
    "谢谢你",
    "好的",
    "好",
    "嗯",
    "嗯嗯",
    "OK",
    "ok",
    "收到",
    "👌",
    "[OK]",
    "[抱拳]",
    "再见",
)
SCORE_PARTS = ("pass", "reply", "coverage", "tasks")


@dataclass(frozen=True)
class WorkingHours:
    """Daily opening hours in the workspace zone, on the given ISO weekdays (1 = Monday)."""

    start: time = time(9, 0)
    end: time = time(18, 0)
    weekdays: frozenset[int] = frozenset(range(1, 8))
    tz: str = "Asia/Shanghai"

    def seconds_between(self, a: datetime, b: datetime) -> int:
        """Working seconds in [a, b) (0 when b ≤ a)."""
        if b <= a:
            return 0
        z = zone(self.tz)
        la, lb = a.astimezone(z), b.astimezone(z)
        total = 0.0
        day = la.date()
        while day <= lb.date():
            if day.isoweekday() in self.weekdays:
                open_ = datetime.combine(day, self.start, tzinfo=z)
                close = datetime.combine(day, self.end, tzinfo=z)
                lo, hi = max(open_, la), min(close, lb)
                if hi > lo:
                    total += (hi - lo).total_seconds()
            day += timedelta(days=1)
        return int(total)

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(zone(self.tz))
        return local.isoweekday() in self.weekdays and self.start <= local.time() < self.end


@dataclass(frozen=True)
class InsightKnobs:
    hours: WorkingHours = field(default_factory=WorkingHours)
    silence_minutes: int = 30
    reply_minutes: int = 10
    accept_minutes: int = 30
    exempt_words: frozenset[str] = frozenset(DEFAULT_EXEMPT)
    conversion_days: int = 30
    platform_fee_rates: Mapping[str, float] = field(default_factory=dict)
    account_cost_fen: Mapping[str, int] = field(default_factory=dict)
    discount_in_paid: bool = True
    send_cost_fen: int = 0
    score_weights: Mapping[str, float] = field(default_factory=lambda: dict.fromkeys(SCORE_PARTS, 1.0))


def _field(key: str) -> str:
    return f"settings.{SETTINGS_KEY}.{key}"


def _pos_int(raw: Mapping[str, Any], key: str, default: int, top: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
        raise Invalid(
            f"workspace setting {SETTINGS_KEY}.{key} must be a whole number from 1 to {top}, got {value!r}",
            field=_field(key),
        )
    return value


def _time(value: Any, key: str) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise Invalid(
            f"workspace setting {SETTINGS_KEY}.working_hours.{key} must be HH:MM, got {value!r}",
            field=_field(f"working_hours.{key}"),
        ) from None


def _rate_map(raw: Mapping[str, Any], key: str, top: float) -> dict[str, float]:
    value = raw.get(key) or {}
    if not isinstance(value, Mapping):
        raise Invalid(f"workspace setting {SETTINGS_KEY}.{key} must be an object", field=_field(key))
    out: dict[str, float] = {}
    for name, v in value.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= top:
            raise Invalid(
                f"workspace setting {SETTINGS_KEY}.{key}.{name} must be a number from 0 to {top}, got {v!r}",
                field=_field(f"{key}.{name}"),
            )
        out[str(name)] = float(v)
    return out


def _send_cost(raw: Mapping[str, Any]) -> int:
    value = raw.get("send_cost_yuan", 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 10_000_000:
        raise Invalid(
            f"workspace setting {SETTINGS_KEY}.send_cost_yuan must be a number from 0 to 10000000, "
            f"got {value!r}",
            field=_field("send_cost_yuan"),
        )
    return round(value * 100)


def knobs_from_settings(settings: Mapping[str, Any] | None, tz: str = "Asia/Shanghai") -> InsightKnobs:
    raw = (settings or {}).get(SETTINGS_KEY) or {}
    if not isinstance(raw, Mapping):
        raise Invalid(
            f"workspace setting '{SETTINGS_KEY}' must be an object", field=f"settings.{SETTINGS_KEY}"
        )
    d = InsightKnobs()
    wh = raw.get("working_hours") or {}
    if not isinstance(wh, Mapping):
        raise Invalid(
            "workspace setting insights.working_hours must be an object", field=_field("working_hours")
        )
    start = _time(wh.get("start", "09:00"), "start")
    end = _time(wh.get("end", "18:00"), "end")
    if end <= start:
        raise Invalid(
            f"workspace setting insights.working_hours: end ({end:%H:%M}) "
            f"must be after start ({start:%H:%M})",
            field=_field("working_hours.end"),
        )
    days = wh.get("weekdays", list(range(1, 8)))
    if not isinstance(days, list) or not days or any(not isinstance(x, int) or not 1 <= x <= 7 for x in days):
        raise Invalid(
            "workspace setting insights.working_hours.weekdays must list ISO weekdays 1 (Mon) to 7 (Sun)",
            field=_field("working_hours.weekdays"),
        )
    words = raw.get("exempt_words", list(DEFAULT_EXEMPT))
    if not isinstance(words, list) or any(not isinstance(w, str) for w in words):
        raise Invalid(
            "workspace setting insights.exempt_words must be a list of words", field=_field("exempt_words")
        )
    costs = _rate_map(raw, "account_cost_yuan", 10_000_000)
    weights = _rate_map(raw, "score_weights", 100)
    unknown = set(weights) - set(SCORE_PARTS)
    if unknown:
        raise Invalid(
            f"workspace setting insights.score_weights: unknown part {sorted(unknown)[0]!r} "
            f"(known: {', '.join(SCORE_PARTS)})",
            field=_field("score_weights"),
        )
    return InsightKnobs(
        hours=WorkingHours(start=start, end=end, weekdays=frozenset(days), tz=tz),
        silence_minutes=_pos_int(raw, "silence_minutes", d.silence_minutes, 24 * 60),
        reply_minutes=_pos_int(raw, "reply_minutes", d.reply_minutes, 24 * 60),
        accept_minutes=_pos_int(raw, "accept_minutes", d.accept_minutes, 24 * 60),
        exempt_words=frozenset(w.strip().lower() for w in words),
        conversion_days=_pos_int(raw, "conversion_days", d.conversion_days, 366),
        platform_fee_rates=_rate_map(raw, "platform_fee_rates", 1),
        account_cost_fen={k: round(v * 100) for k, v in costs.items()},
        discount_in_paid=bool(raw.get("discount_in_paid", True)),
        send_cost_fen=_send_cost(raw),
        score_weights={**dict.fromkeys(SCORE_PARTS, 1.0), **weights},
    )

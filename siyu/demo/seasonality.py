"""When Chinese consumers buy skincare: the shopping festivals and the hours of the day.

The multipliers are relative sales intensity against an ordinary day (1.0). They
follow the shape platforms report: 双11 and 618 dwarf everything, 38 女王节 and
年货节 are smaller peaks, and the week of Spring Festival is dead because couriers
stop.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

# Spring Festival (春节) dates; 年货节 runs in the three weeks before it.
SPRING_FESTIVAL: dict[int, date] = {
    2022: date(2022, 2, 1),
    2023: date(2023, 1, 22),
    2024: date(2024, 2, 10),
    2025: date(2025, 1, 29),
    2026: date(2026, 2, 17),
    2027: date(2027, 2, 6),
    2028: date(2028, 1, 26),
    2029: date(2029, 2, 13),
    2030: date(2030, 2, 3),
}

# Share of a day's orders per hour: quiet at night, lunch bump, evening peak 20-23h.
HOUR_WEIGHTS: tuple[float, ...] = (
    2.0, 1.0, 0.5, 0.3, 0.2, 0.2, 0.4, 1.0, 2.0, 3.0, 3.5, 3.8,
    4.5, 4.2, 3.6, 3.5, 3.6, 3.8, 4.0, 4.8, 6.0, 6.8, 6.5, 4.0,
)  # fmt: skip
# On the big nights the first hour after midnight (the "尾款" hour) takes a huge share.
PEAK_NIGHT_HOUR_WEIGHTS: tuple[float, ...] = (40.0, *HOUR_WEIGHTS[1:])


@lru_cache(maxsize=4096)
def festival(day: date) -> str | None:
    """The name of the sales event running on ``day``, if any."""
    m, d = day.month, day.day
    if (m == 11 and d <= 11) or (m == 10 and d >= 20):
        return "双11"
    if (m == 6 and d <= 18) or (m == 5 and d >= 20):
        return "618"
    if m == 3 and d <= 8:
        return "38女王节"
    if m == 12 and 10 <= d <= 12:
        return "双12"
    for year in (day.year, day.year + 1):
        sf = SPRING_FESTIVAL.get(year)
        if sf is not None and sf - timedelta(days=25) <= day < sf - timedelta(days=8):
            return "年货节"
    return None


@lru_cache(maxsize=4096)
def intensity(day: date) -> float:
    """Relative sales intensity of a calendar day (1.0 = an ordinary day)."""
    m, d = day.month, day.day
    for year in (day.year, day.year + 1):
        sf = SPRING_FESTIVAL.get(year)
        if sf is not None and sf - timedelta(days=7) <= day <= sf + timedelta(days=6):
            return 0.45  # couriers stop; people are at home with family
    name = festival(day)
    if name == "双11":
        if m == 11 and d == 11:
            return 9.0
        if m == 11 and d == 10:
            return 3.5
        if (m == 10 and d in (20, 21, 31)) or (m == 11 and d == 1):
            return 3.0  # presale opens and the first 尾款 payment window
        return 1.6
    if name == "618":
        if m == 6 and d == 18:
            return 6.0
        if m == 6 and d in (1, 17):
            return 3.0
        return 1.5
    if name == "38女王节":
        return 3.0 if d == 8 else 1.5
    if name == "双12":
        return 2.5 if d == 12 else 1.4
    if name == "年货节":
        return 1.6
    # A touch more skincare in autumn and winter (dry skin), less in high summer.
    return {1: 1.05, 2: 1.0, 7: 0.85, 8: 0.85, 9: 1.05, 12: 1.1}.get(m, 1.0)


def hour_weights(day: date) -> tuple[float, ...]:
    """Relative order volume per hour of ``day``."""
    if (day.month, day.day) in ((11, 11), (6, 18), (11, 1), (6, 1)):
        return PEAK_NIGHT_HOUR_WEIGHTS
    return HOUR_WEIGHTS


MAX_INTENSITY = 9.0

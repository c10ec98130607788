"""Customer layers (new/old, SVIP/VIP/regular, value, lifecycle, category) and Pareto share.

All functions take per-customer numpy arrays. Days are whole local days (days since
1970-01-01 in the workspace time zone); ``MISSING`` marks "never happened".
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from siyu.segments.knobs import SegmentKnobs

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
ObjArray = npt.NDArray[np.object_]

MISSING = np.int64(-(2**62))


def _days_since(days: IntArray, as_of_day: int) -> IntArray:
    return np.where(days == MISSING, np.iinfo(np.int64).max, as_of_day - days)


def age_layer(first_paid_day: IntArray, as_of_day: int, knobs: SegmentKnobs) -> ObjArray:
    """``new`` when the first paid order is fewer than ``new_days`` days old, else ``old``.

    Customers who never paid have no age layer (None).
    """
    out = np.full(first_paid_day.shape, None, dtype=object)
    paid = first_paid_day != MISSING
    since = as_of_day - first_paid_day
    out[paid & (since < knobs.new_days)] = "new"
    out[paid & (since >= knobs.new_days)] = "old"
    return out


def tier_layer(net_fen: IntArray, knobs: SegmentKnobs) -> ObjArray:
    """``svip`` at or above the SVIP net-spend threshold, ``vip`` at or above VIP, else ``regular``."""
    out = np.full(net_fen.shape, "regular", dtype=object)
    out[net_fen >= knobs.vip_fen] = "vip"
    out[net_fen >= knobs.svip_fen] = "svip"
    return out


def silent_mask(
    last_paid_day: IntArray, last_interaction_day: IntArray, as_of_day: int, knobs: SegmentKnobs
) -> BoolArray:
    """No paid order and no interaction in the last ``silent_days`` days (or ever)."""
    quiet_orders = _days_since(last_paid_day, as_of_day) >= knobs.silent_days
    quiet_talk = _days_since(last_interaction_day, as_of_day) >= knobs.silent_days
    return np.asarray(quiet_orders & quiet_talk, dtype=np.bool_)


def value_layer(silent: BoolArray, tier: ObjArray, m_score: IntArray) -> ObjArray:
    """``silent``; else ``high_value`` (SVIP/VIP or M score 4–5); else ``potential``."""
    out = np.full(silent.shape, "potential", dtype=object)
    valuable = (tier == "svip") | (tier == "vip") | (m_score >= 4)
    out[valuable] = "high_value"
    out[silent] = "silent"
    return out


def lifecycle_stage(
    effective_orders: IntArray, has_active_follow: BoolArray, referred_someone: BoolArray
) -> ObjArray:
    """The furthest stage reached: lead → friend → first_purchase → repeat → advocate.

    advocate = referred at least one other customer; repeat = 2+ effective orders;
    first_purchase = 1; friend = an active follow with a staff account; else lead.
    """
    out = np.full(effective_orders.shape, "lead", dtype=object)
    out[has_active_follow] = "friend"
    out[effective_orders >= 1] = "first_purchase"
    out[effective_orders >= 2] = "repeat"
    out[referred_someone] = "advocate"
    return out


def preferred_category(categories: Mapping[str, Any] | None) -> str | None:
    """The category with the most paid items; ties go to the name that sorts first."""
    best: str | None = None
    best_count = 0.0
    for name, raw in (categories or {}).items():
        try:
            count = float(raw)
        except (TypeError, ValueError):
            continue
        if not name or not math.isfinite(count) or count <= 0:
            continue
        if count > best_count or (count == best_count and best is not None and name < best):
            best, best_count = name, count
    return best


def preferred_categories(rows: Iterable[Mapping[str, Any] | str | None]) -> ObjArray:
    """``preferred_category`` of each row: a dict, or its JSON text (as SQLite returns it)."""
    # Many customers share the same few category mixes: parse each distinct text once.
    cache: dict[str, str | None] = {"{}": None, "": None}
    values: list[str | None] = []
    for row in rows:
        if isinstance(row, str):
            if row not in cache:
                try:
                    parsed = json.loads(row)
                except ValueError:
                    parsed = None
                cache[row] = preferred_category(parsed if isinstance(parsed, dict) else None)
            values.append(cache[row])
        else:
            values.append(preferred_category(row))
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def pareto_share(net_fen: npt.ArrayLike, top: float = 0.2) -> float | None:
    """Share of net revenue from the top ``top`` of customers by net spend.

    The top group is ceil(top × n) customers (at least one); customers with zero or
    negative net count in n but add nothing. None when there is no positive revenue.
    """
    v = np.asarray(net_fen, dtype=np.float64)
    if not 0 < top <= 1:
        raise ValueError("top must be a share between 0 and 1")
    total = float(v[v > 0].sum()) if v.size else 0.0
    if v.size == 0 or total <= 0:
        return None
    k = max(1, math.ceil(top * v.size - 1e-9))
    largest = np.partition(v, v.size - k)[v.size - k :]
    return float(np.clip(largest, 0, None).sum() / total)

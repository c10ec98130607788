"""RFM scores and both labelings (R×F grid, Chinese 8 classes), vectorised with numpy.

Definitions (docs/metrics.md): recency = whole days since the last paid order, frequency =
effective (paid, not fully refunded) orders, monetary = net paid fen. Only customers
with at least one effective order are scored; the arrays passed here hold only them.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Center = Literal["mean", "median"]

# R×F grid: (label, R scores, F scores). METRICS.md's table; it covers each of the 25
# (R, F) cells exactly once (pinned by a test), so no gap needs filling.
RF_GRID: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = (
    ("champions", (5,), (4, 5)),
    ("loyal", (3, 4), (4, 5)),
    ("potential_loyalists", (4, 5), (2, 3)),
    ("new", (5,), (1,)),
    ("promising", (4,), (1,)),
    ("need_attention", (3,), (3,)),
    ("about_to_sleep", (3,), (1, 2)),
    ("at_risk", (1, 2), (3, 4)),
    ("cant_lose", (1, 2), (5,)),
    ("hibernating", (1, 2), (1, 2)),
)
RF_LABELS: tuple[str, ...] = tuple(label for label, _, _ in RF_GRID)


def _grid_table() -> npt.NDArray[np.object_]:
    table = np.full((6, 6), None, dtype=object)
    for label, rs, fs in RF_GRID:
        for r in rs:
            for f in fs:
                if table[r, f] is not None:
                    raise AssertionError(f"R{r} F{f} has two labels: {table[r, f]} and {label}")
                table[r, f] = label
    return table


_GRID = _grid_table()

# Chinese 8 classes, keyed by the digits R F M (1 = high; R high = recent).
RFM8_NAMES: dict[str, str] = {
    "111": "重要价值",
    "101": "重要发展",
    "011": "重要保持",
    "001": "重要挽留",
    "110": "一般价值",
    "100": "一般发展",
    "010": "一般保持",
    "000": "一般挽留",
}


def quintile_scores(values: npt.ArrayLike, *, higher_is_better: bool = True) -> IntArray:
    """Scores 1–5: 1 + floor(5 × share of customers strictly worse); ties share a score.

    Rank-based, so ties never split across scores (everyone with one order gets the
    same F). When every customer has the same value the measure ranks nobody: all get 3,
    except that the lowest possible frequency (one order) keeps 1 — see ``f_scores``.
    """
    v = np.asarray(values, dtype=np.float64)
    n = v.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    key = v if higher_is_better else -v
    if np.all(key == key[0]):
        return np.full(n, 3, dtype=np.int64)
    ordered = np.sort(key)
    # number of customers strictly worse = insertion point on the left
    worse = np.searchsorted(ordered, key, side="left")
    scores = 1 + (5 * worse) // n
    return np.minimum(scores, 5).astype(np.int64)


def r_scores(recency_days: npt.ArrayLike) -> IntArray:
    """R 1–5 by quintile, flipped: fewer days since the last order scores higher."""
    return quintile_scores(recency_days, higher_is_better=False)


def f_scores(frequency: npt.ArrayLike) -> IntArray:
    """F 1–5 by quintile; a workspace where everyone bought exactly once is all F1."""
    f = np.asarray(frequency, dtype=np.float64)
    scores = quintile_scores(f)
    if f.size and np.all(f == f[0]) and f[0] <= 1:
        scores[:] = 1
    return scores


def m_scores(monetary_fen: npt.ArrayLike) -> IntArray:
    """M 1–5 by quintile of net paid."""
    return quintile_scores(monetary_fen)


def rf_segments(r: npt.ArrayLike, f: npt.ArrayLike) -> npt.NDArray[np.object_]:
    """The R×F grid label of each (R, F) pair of scores."""
    ra = np.asarray(r, dtype=np.int64)
    fa = np.asarray(f, dtype=np.int64)
    if ra.size and (ra.min() < 1 or ra.max() > 5 or fa.min() < 1 or fa.max() > 5):
        raise ValueError("R and F scores must be between 1 and 5")
    out: npt.NDArray[np.object_] = _GRID[ra, fa]
    return out


def _center(values: FloatArray, center: Center) -> float:
    if center == "mean":
        return float(values.mean())
    if center == "median":
        return float(np.median(values))
    raise ValueError(f"center must be 'mean' or 'median', not {center!r}")


def rfm8_codes(
    recency_days: npt.ArrayLike,
    frequency: npt.ArrayLike,
    monetary_fen: npt.ArrayLike,
    *,
    center: Center = "mean",
) -> npt.NDArray[np.str_]:
    """Three-digit codes R F M (1 = high) against the workspace mean or median.

    High means strictly better than the centre: R high = strictly fewer days since the
    last order than the centre (recent), F and M high = strictly above it.
    """
    rec = np.asarray(recency_days, dtype=np.float64)
    freq = np.asarray(frequency, dtype=np.float64)
    mon = np.asarray(monetary_fen, dtype=np.float64)
    if rec.size == 0:
        return np.zeros(0, dtype="<U3")
    r_high = rec < _center(rec, center)
    f_high = freq > _center(freq, center)
    m_high = mon > _center(mon, center)
    digits = r_high.astype(np.int64) * 100 + f_high.astype(np.int64) * 10 + m_high.astype(np.int64)
    return np.char.zfill(digits.astype("<U3"), 3)


def rfm8_names(codes: npt.ArrayLike) -> list[str]:
    """The Chinese class name of each code (111 → 重要价值)."""
    return [RFM8_NAMES[str(c)] for c in np.asarray(codes).tolist()]

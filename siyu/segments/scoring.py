"""Scores of every customer from columns of their maintained stats (pure numpy).

This is the arithmetic of ``siyu segments recompute``: RFM scores and both labelings,
the layers, and CLV predictions from a fitted model. It knows nothing of the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from siyu.segments import layers, rfm
from siyu.segments.clv import ClvModel, local_days, predict
from siyu.segments.knobs import SegmentKnobs
from siyu.segments.rfm import Center

IntArray = npt.NDArray[np.int64]
ObjArray = npt.NDArray[np.object_]
MISSING = int(layers.MISSING)


@dataclass
class CustomerColumns:
    """Per-customer inputs (timestamps as epoch seconds, MISSING when absent)."""

    ids: IntArray
    effective_orders: IntArray
    net_fen: IntArray
    purchase_days: IntArray
    first_paid_s: IntArray
    last_paid_s: IntArray
    last_interaction_s: IntArray
    preferred_category: ObjArray
    has_active_follow: npt.NDArray[np.bool_]
    referred_someone: npt.NDArray[np.bool_]


def to_local_days(epoch_s: IntArray, tz: str) -> IntArray:
    """Local days of epoch seconds, keeping MISSING where the instant is absent."""
    out = np.full(epoch_s.shape, MISSING, dtype=np.int64)
    present = epoch_s != MISSING
    out[present] = local_days(epoch_s[present], tz)
    return out


def _obj(values: npt.ArrayLike, mask: npt.NDArray[np.bool_], size: int) -> ObjArray:
    """An object array of Python values where ``mask``, None elsewhere."""
    out = np.full(size, None, dtype=object)
    out[mask] = np.asarray(values, dtype=object)
    return out


def compute(
    cols: CustomerColumns,
    *,
    as_of_day: int,
    tz: str,
    knobs: SegmentKnobs,
    model: ClvModel | None,
    center: Center | None = None,
) -> dict[str, ObjArray]:
    """Every score column for every customer (None where it does not apply)."""
    n = cols.ids.size
    first_day = to_local_days(cols.first_paid_s, tz)
    last_day = to_local_days(cols.last_paid_s, tz)
    talk_day = to_local_days(cols.last_interaction_s, tz)
    # RFM ranks buyers only: customers with an effective order and a known last order day.
    buyer = (cols.effective_orders > 0) & (last_day != MISSING) & (first_day != MISSING)
    # an --as-of before the last order counts that order as "today", never negative
    recency = np.maximum(as_of_day - last_day[buyer], 0)
    freq = cols.effective_orders[buyer]
    money = cols.net_fen[buyer]
    r = rfm.r_scores(recency)
    f = rfm.f_scores(freq)
    m = rfm.m_scores(money)
    codes = rfm.rfm8_codes(recency, freq, money, center=center or knobs.rfm8_center)
    out: dict[str, ObjArray] = {
        "recency_days": _obj(recency.tolist(), buyer, n),
        "r_score": _obj(r.tolist(), buyer, n),
        "f_score": _obj(f.tolist(), buyer, n),
        "m_score": _obj(m.tolist(), buyer, n),
        "rfm_segment": _obj(rfm.rf_segments(r, f), buyer, n),
        "rfm8": _obj(rfm.rfm8_names(codes), buyer, n),
    }
    m_all = np.zeros(n, dtype=np.int64)
    m_all[buyer] = m
    tier = layers.tier_layer(cols.net_fen, knobs)
    silent = layers.silent_mask(np.where(buyer, last_day, MISSING), talk_day, as_of_day, knobs)
    out["layer_age"] = layers.age_layer(np.where(buyer, first_day, MISSING), as_of_day, knobs)
    out["layer_tier"] = tier
    out["layer_value"] = layers.value_layer(silent, tier, m_all)
    out["lifecycle"] = layers.lifecycle_stage(
        cols.effective_orders, cols.has_active_follow, cols.referred_someone
    )
    out["preferred_category"] = cols.preferred_category
    out.update(_clv(cols, buyer, first_day[buyer], last_day[buyer], as_of_day, model))
    return out


def _clv(
    cols: CustomerColumns,
    buyer: npt.NDArray[np.bool_],
    first_day: IntArray,
    last_day: IntArray,
    as_of_day: int,
    model: ClvModel | None,
) -> dict[str, ObjArray]:
    """CLV predictions of buyers from their stats; None for everyone without a model."""
    n = cols.ids.size
    if model is None or not buyer.any():
        empty = np.full(n, None, dtype=object)
        return {"expected_purchases_90d": empty, "p_alive": empty.copy(), "expected_value_fen": empty.copy()}
    days = np.maximum(cols.purchase_days[buyer], 1)
    t_x = np.maximum(last_day - first_day, 0)
    age = np.maximum(as_of_day - first_day, t_x)
    # The stats keep the total, not the first day's spend: the spend model is updated with
    # the mean over all purchase days (the first one included).
    pred = predict(
        model,
        x=days - 1,
        t_x_days=t_x,
        age_days=age,
        monetary_fen=cols.net_fen[buyer] / days,
        spend_purchases=days,
    )
    value = pred.expected_value_fen
    ok = np.isfinite(value)
    value_obj: list[Any] = [
        round(v) if good else None for v, good in zip(value.tolist(), ok.tolist(), strict=True)
    ]
    return {
        "expected_purchases_90d": _obj(pred.expected_purchases_90d.tolist(), buyer, n),
        "p_alive": _obj(pred.p_alive.tolist(), buyer, n),
        "expected_value_fen": _obj(value_obj, buyer, n),
    }

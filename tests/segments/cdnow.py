"""The CDNOW sample shipped inside ``lifetimes`` (package data), and lifetimes' own fits.

Read with importlib.resources: lifetimes' dataset loader imports pkg_resources, which
new setuptools removed. Columns: customer id, id, date (YYYYMMDD), quantity, dollars.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

CDNOW_END = date(1998, 6, 30)
EPOCH = date(1970, 1, 1)


@lru_cache(maxsize=1)
def _rows() -> tuple[tuple[str, date, str], ...]:
    text = importlib.resources.files("lifetimes").joinpath("datasets/CDNOW_sample.txt").read_text()
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if parts:
            d = parts[2]
            rows.append((parts[0], date(int(d[:4]), int(d[4:6]), int(d[6:])), parts[4]))
    return tuple(rows)


def cdnow_transactions(
    positive_only: bool = False,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(customer id, day number, amount in fen) of every CDNOW sample transaction."""
    rows = [r for r in _rows() if not positive_only or float(r[2]) > 0]
    cid = np.array([int(r[0]) for r in rows], dtype=np.int64)
    day = np.array([(r[1] - EPOCH).days for r in rows], dtype=np.int64)
    fen = np.array([round(float(r[2]) * 100) for r in rows], dtype=np.int64)
    return cid, day, fen


def write_generic_csv(path: Path) -> Path:
    """The sample as a file in siyu's generic order format (dollars read as yuan)."""
    lines = ["order_id,buyer_id,paid_at,amount"]
    lines += [f"cdnow-{i},{c},{d.isoformat()},{a}" for i, (c, d, a) in enumerate(_rows(), start=1)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class PeerFit:
    """lifetimes' parameters (r, alpha, a, b, p, q, v) and predictions by customer id."""

    params: list[float]
    customer_ids: npt.NDArray[np.int64]
    p_alive: npt.NDArray[np.float64]
    expected_90d: npt.NDArray[np.float64]


@lru_cache(maxsize=4)
def lifetimes_fit(unit: str = "day", positive_only: bool = False) -> PeerFit:
    """Fit lifetimes' BetaGeoFitter + GammaGammaFitter on the sample, as its docs do."""
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import summary_data_from_transaction_data

    cid, day, fen = cdnow_transactions(positive_only)
    df = pd.DataFrame(
        {"cid": cid, "date": pd.to_datetime(day, unit="D", origin="unix"), "amount": fen / 100.0}
    )
    mult = 7 if unit == "week" else 1
    s = summary_data_from_transaction_data(
        df,
        "cid",
        "date",
        monetary_value_col="amount",
        observation_period_end=str(CDNOW_END),
        freq_multiplier=mult,
    ).sort_index()
    bg = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
    repeat = s[s["frequency"] > 0]
    gg = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    return PeerFit(
        params=[*map(float, bg.params_), *map(float, gg.params_)],
        customer_ids=s.index.to_numpy(dtype=np.int64),
        p_alive=np.asarray(bg.conditional_probability_alive(s["frequency"], s["recency"], s["T"])),
        expected_90d=np.asarray(
            bg.conditional_expected_number_of_purchases_up_to_time(
                90 / mult, s["frequency"], s["recency"], s["T"]
            )
        ),
    )

"""Per-customer purchase summaries for BG/NBD and Gamma-Gamma, from transactions.

A customer's purchases are counted per local day (the workspace time zone): several
orders on one day are one purchase whose value is their sum. As in the literature (and
the ``lifetimes`` library), x is the number of *repeat* purchase days, t_x the age of
the customer at the last one, T the age at the end of the period, and the monetary
value is the mean value of the repeat purchase days (the first day is left out).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

SECONDS_PER_DAY = 86_400


def local_days(epoch_seconds: npt.ArrayLike, tz: str) -> IntArray:
    """Local calendar day (days since 1970-01-01 in ``tz``) of each UTC instant.

    The UTC offset is looked up once per distinct UTC hour, so daylight-saving zones are
    exact (transitions fall on whole hours) and the cost stays tiny on millions of rows.
    """
    secs = np.asarray(epoch_seconds, dtype=np.int64)
    if secs.size == 0:
        return np.zeros(0, dtype=np.int64)
    zone = ZoneInfo(tz)
    hours, inverse = np.unique(secs // 3600, return_inverse=True)
    offsets = np.fromiter(
        (
            int(datetime.fromtimestamp(int(h) * 3600, UTC).astimezone(zone).utcoffset().total_seconds())  # type: ignore[union-attr]
            for h in hours
        ),
        dtype=np.int64,
        count=hours.size,
    )
    return np.asarray((secs + offsets[inverse.reshape(-1)]) // SECONDS_PER_DAY, dtype=np.int64)


@dataclass(frozen=True)
class PurchaseSummary:
    """One row per customer with at least one purchase on or before the end day."""

    customer_ids: IntArray
    x: IntArray  # repeat purchase days
    t_x_days: IntArray  # days from the first to the last purchase day
    age_days: IntArray  # days from the first purchase day to the end day (T)
    monetary_fen: FloatArray  # mean value of the repeat purchase days (0 when x = 0)
    end_day: int

    @property
    def size(self) -> int:
        return int(self.customer_ids.size)


def summarise(
    customer_ids: npt.ArrayLike, days: npt.ArrayLike, amount_fen: npt.ArrayLike, *, end_day: int
) -> PurchaseSummary:
    """Summarise transactions (customer, local day, value) up to and including ``end_day``."""
    cid = np.asarray(customer_ids, dtype=np.int64)
    day = np.asarray(days, dtype=np.int64)
    amt = np.asarray(amount_fen, dtype=np.float64)
    keep = day <= end_day
    cid, day, amt = cid[keep], day[keep], amt[keep]
    empty_i = np.zeros(0, dtype=np.int64)
    if cid.size == 0:
        return PurchaseSummary(empty_i, empty_i, empty_i, empty_i, np.zeros(0), end_day)
    order = np.lexsort((day, cid))
    cid, day, amt = cid[order], day[order], amt[order]
    # collapse to (customer, day) purchases, summing the value of same-day orders
    new_purchase = np.ones(cid.size, dtype=bool)
    new_purchase[1:] = (cid[1:] != cid[:-1]) | (day[1:] != day[:-1])
    p_start = np.flatnonzero(new_purchase)
    p_cid, p_day = cid[p_start], day[p_start]
    p_amt = np.add.reduceat(amt, p_start)
    # per customer: first/last day, count of purchase days, value of the first day
    new_customer = np.ones(p_cid.size, dtype=bool)
    new_customer[1:] = p_cid[1:] != p_cid[:-1]
    c_start = np.flatnonzero(new_customer)
    c_end = np.append(c_start[1:], p_cid.size) - 1
    n_days = c_end - c_start + 1
    first_day, last_day = p_day[c_start], p_day[c_end]
    total = np.add.reduceat(p_amt, c_start)
    x = n_days - 1
    repeat_total = total - p_amt[c_start]
    monetary = np.divide(repeat_total, x, out=np.zeros(x.size), where=x > 0)
    return PurchaseSummary(
        customer_ids=p_cid[c_start],
        x=x.astype(np.int64),
        t_x_days=(last_day - first_day).astype(np.int64),
        age_days=(end_day - first_day).astype(np.int64),
        monetary_fen=monetary,
        end_day=end_day,
    )

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


# (x, t_x, T) packed into one int64: 21 bits each (T and t_x below 2**21 days).
_SHIFT = 21
_MASK = (1 << _SHIFT) - 1


@dataclass(frozen=True)
class DistinctHistories:
    """The purchase summary reduced to its distinct rows, each with how many customers share it.

    BG/NBD's likelihood depends on a customer only through (x, t_x, T), and
    Gamma-Gamma's through (x, repeat value): fitting on the distinct rows weighted by
    their counts gives exactly the per-customer fit, in memory that grows with the
    number of distinct histories, not with customers.
    """

    x: IntArray
    t_x_days: IntArray
    age_days: IntArray
    weight: FloatArray
    spend_x: IntArray  # Gamma-Gamma rows: repeat customers with a positive repeat value
    spend_total_fen: FloatArray  # value of the repeat purchase days (mean = total / x)
    spend_weight: FloatArray
    customers: int
    repeat_customers: int
    end_day: int


def _merge(keys: list[IntArray], counts: list[IntArray]) -> tuple[IntArray, IntArray]:
    if not keys:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    k = np.concatenate(keys)
    c = np.concatenate(counts)
    uniq, inverse = np.unique(k, return_inverse=True)
    return uniq, np.bincount(inverse.reshape(-1), weights=c, minlength=uniq.size).astype(np.int64)


def _merge_pairs(keys: list[IntArray], counts: list[IntArray]) -> tuple[IntArray, IntArray]:
    if not keys:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int64)
    k = np.concatenate(keys)
    c = np.concatenate(counts)
    uniq, inverse = np.unique(k, axis=0, return_inverse=True)
    return uniq, np.bincount(inverse.reshape(-1), weights=c, minlength=uniq.shape[0]).astype(np.int64)


class HistoryCounter:
    """Folds per-customer summaries, chunk by chunk, into ``DistinctHistories``.

    Each chunk must hold whole customers (every purchase of a customer in one chunk);
    its rows are reduced to distinct keys at once, and the running tables are merged
    whenever the pending rows pass ``merge_every``, so memory stays near one chunk plus
    the distinct histories.
    """

    def __init__(self, end_day: int, merge_every: int = 2_000_000) -> None:
        self.end_day = end_day
        self.merge_every = merge_every
        self.customers = 0
        self.repeaters = 0
        self._bg_keys: list[IntArray] = []
        self._bg_counts: list[IntArray] = []
        self._gg_keys: list[IntArray] = []
        self._gg_counts: list[IntArray] = []
        self._pending = 0

    def add(self, summary: PurchaseSummary) -> None:
        """Count one chunk's customers (a ``summarise`` result over whole customers)."""
        if summary.size == 0:
            return
        if int(summary.t_x_days.max()) > _MASK or int(summary.age_days.max()) > _MASK:
            raise ValueError("purchase history longer than 2**21 days")
        self.customers += summary.size
        self.repeaters += int((summary.x > 0).sum())
        packed = (summary.x << (2 * _SHIFT)) | (summary.t_x_days << _SHIFT) | summary.age_days
        k, c = np.unique(packed, return_counts=True)
        self._bg_keys.append(k)
        self._bg_counts.append(c.astype(np.int64))
        spenders = (summary.x > 0) & (summary.monetary_fen > 0)
        # the repeat days' total value is a whole number of fen: exact as an integer key
        totals = np.rint(summary.monetary_fen[spenders] * summary.x[spenders]).astype(np.int64)
        pairs = np.stack([summary.x[spenders], totals], axis=1)
        if pairs.shape[0]:
            pk, pc = np.unique(pairs, axis=0, return_counts=True)
            self._gg_keys.append(pk)
            self._gg_counts.append(pc.astype(np.int64))
        self._pending += k.size + pairs.shape[0]
        if self._pending > self.merge_every:
            self._compact()

    def _compact(self) -> None:
        bk, bc = _merge(self._bg_keys, self._bg_counts)
        gk, gc = _merge_pairs(self._gg_keys, self._gg_counts)
        self._bg_keys, self._bg_counts = [bk], [bc]
        self._gg_keys, self._gg_counts = [gk], [gc]
        self._pending = bk.size + gk.shape[0]

    def result(self) -> DistinctHistories:
        """The distinct histories counted so far."""
        bk, bc = _merge(self._bg_keys, self._bg_counts)
        gk, gc = _merge_pairs(self._gg_keys, self._gg_counts)
        return DistinctHistories(
            x=(bk >> (2 * _SHIFT)).astype(np.int64),
            t_x_days=((bk >> _SHIFT) & _MASK).astype(np.int64),
            age_days=(bk & _MASK).astype(np.int64),
            weight=bc.astype(np.float64),
            spend_x=gk[:, 0].astype(np.int64),
            spend_total_fen=gk[:, 1].astype(np.float64),
            spend_weight=gc.astype(np.float64),
            customers=self.customers,
            repeat_customers=self.repeaters,
            end_day=self.end_day,
        )


def distinct_histories(summary: PurchaseSummary) -> DistinctHistories:
    """One in-memory summary reduced to its distinct histories."""
    counter = HistoryCounter(summary.end_day)
    counter.add(summary)
    return counter.result()

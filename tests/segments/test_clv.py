"""CLV: likelihoods and gradients, purchase summaries, fits vs ``lifetimes``, failures."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import approx_fprime

from siyu.segments.clv import ClvFitError, bgnbd, fit_clv, gamma_gamma, local_days, predict, summarise
from tests.segments.cdnow import CDNOW_END, cdnow_transactions, lifetimes_fit

pytestmark = pytest.mark.filterwarnings("ignore:The 'mode.chained_assignment' option is deprecated")

# -- likelihoods -------------------------------------------------------------------------

positive = st.floats(min_value=0.05, max_value=20)


@settings(max_examples=40, deadline=None)
@given(positive, positive, positive, positive, st.integers(0, 30), st.floats(0.0, 1.0), st.floats(1, 500))
def test_bgnbd_gradient_is_exact(
    r: float, alpha: float, a: float, b: float, x: int, frac: float, T: float
) -> None:
    xs = np.array([float(x)])
    t_x = np.array([T * frac if x > 0 else 0.0])
    Ts = np.array([T])
    params = np.array([r, alpha, a, b])
    _, grad = bgnbd.log_likelihood(params, xs, t_x, Ts)
    numeric = approx_fprime(params, lambda p: float(bgnbd.log_likelihood(p, xs, t_x, Ts)[0][0]), 1e-7)
    np.testing.assert_allclose(grad[:, 0], numeric, rtol=2e-3, atol=2e-4)


@settings(max_examples=40, deadline=None)
@given(positive, positive, positive, st.integers(1, 30), st.floats(0.5, 5000))
def test_gamma_gamma_gradient_is_exact(p: float, q: float, g: float, x: int, m: float) -> None:
    xs, ms = np.array([float(x)]), np.array([m])
    params = np.array([p, q, g])
    _, grad = gamma_gamma.log_likelihood(params, xs, ms)
    numeric = approx_fprime(params, lambda v: float(gamma_gamma.log_likelihood(v, xs, ms)[0][0]), 1e-7)
    np.testing.assert_allclose(grad[:, 0], numeric, rtol=2e-3, atol=2e-4)


def test_p_alive_is_one_without_repeats_and_falls_with_silence() -> None:
    params = (0.25, 38.0, 0.6, 2.6)
    one = np.array([1.0, 1.0])
    alive = bgnbd.p_alive(params, np.array([0.0, 5.0]), np.array([0.0, 50.0]), np.array([100.0, 100.0]))
    later = bgnbd.p_alive(params, one * 5, one * 50, one * 400)
    assert alive[0] == 1.0
    assert 0 < later[1] < alive[1] < 1


# -- summaries ---------------------------------------------------------------------------

transactions = st.lists(
    st.tuples(st.integers(1, 6), st.integers(0, 40), st.integers(0, 10_000)), min_size=1, max_size=60
)


@settings(max_examples=100, deadline=None)
@given(transactions, st.integers(0, 45))
def test_summary_matches_a_plain_reading(rows: list[tuple[int, int, int]], end: int) -> None:
    cid, day, amt = (np.array(c) for c in zip(*rows, strict=True))
    s = summarise(cid, day, amt, end_day=end)
    expected: dict[int, dict[int, int]] = {}
    for c, d, a in rows:
        if d <= end:
            expected.setdefault(c, {}).setdefault(d, 0)
            expected[c][d] += a
    assert s.customer_ids.tolist() == sorted(expected)
    for i, c in enumerate(s.customer_ids.tolist()):
        days = sorted(expected[c])
        assert s.x[i] == len(days) - 1  # several orders on one day are one purchase
        assert s.t_x_days[i] == days[-1] - days[0]
        assert s.age_days[i] == end - days[0]
        repeat = [expected[c][d] for d in days[1:]]
        assert s.monetary_fen[i] == pytest.approx(sum(repeat) / len(repeat) if repeat else 0.0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 2_000_000_000), min_size=1, max_size=30))
def test_local_days_follow_daylight_saving(stamps: list[int]) -> None:
    for tz in ("America/New_York", "Asia/Shanghai", "Australia/Lord_Howe"):
        got = local_days(np.array(stamps), tz).tolist()
        want = [
            (
                datetime.fromtimestamp(s, UTC).astimezone(ZoneInfo(tz)).date() - datetime(1970, 1, 1).date()
            ).days
            for s in stamps
        ]
        assert got == want


# -- fits --------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", ["day", "week"])
def test_fit_agrees_with_lifetimes_on_cdnow(unit: str) -> None:
    cid, day, fen = cdnow_transactions()
    end = (CDNOW_END - datetime(1970, 1, 1).date()).days
    model = fit_clv(
        summarise(cid, day, fen, end_day=end),
        time_unit=unit,
        calibration_end="1998-06-30",
        fitted_at="t",  # type: ignore[arg-type]
    )
    peer = lifetimes_fit(unit)
    ours = [model.r, model.alpha, model.a, model.b, model.p, model.q, model.gamma]
    np.testing.assert_allclose(ours, peer.params, rtol=1e-4)
    assert model.customers == 2357
    # per-customer predictions agree too
    s = summarise(cid, day, fen, end_day=end)
    pred = predict(model, x=s.x, t_x_days=s.t_x_days, age_days=s.age_days, monetary_fen=s.monetary_fen)
    np.testing.assert_allclose(pred.p_alive, peer.p_alive, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(pred.expected_purchases_90d, peer.expected_90d, rtol=1e-4, atol=1e-6)


def test_too_little_history_is_explained() -> None:
    # eight customers who each bought once: nothing says how often people come back
    s = summarise(np.arange(8), np.arange(8), np.full(8, 1000), end_day=30)
    with pytest.raises(ClvFitError, match=r"not enough purchase history.*8 customers.*0 of them came back"):
        fit_clv(s, calibration_end="2026-06-30", fitted_at="t")


def test_no_convergence_is_explained() -> None:
    cid, day, fen = cdnow_transactions()
    s = summarise(cid, day, fen, end_day=(CDNOW_END - datetime(1970, 1, 1).date()).days)
    with pytest.raises(
        ClvFitError, match=r"the BG/NBD fit did not converge .*after 2 iterations.*calibration-end"
    ):
        fit_clv(s, calibration_end="1998-06-30", fitted_at="t", max_iterations=2)


def test_runaway_parameter_is_reported() -> None:
    # everyone buys every single day until the end: the dropout rate has no data to stop at 0
    n, days = 40, 30
    cid = np.repeat(np.arange(n), days)
    day = np.tile(np.arange(days), n)
    s = summarise(cid, day, np.full(cid.size, 500), end_day=days - 1)
    with pytest.raises(ClvFitError, match="did not converge"):
        fit_clv(s, calibration_end="2026-06-30", fitted_at="t")


# -- distinct histories ------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(transactions, st.lists(st.integers(1, 6), max_size=5))
def test_histories_counted_in_chunks_equal_the_whole(
    rows: list[tuple[int, int, int]], cuts: list[int]
) -> None:
    from siyu.segments.clv import HistoryCounter, distinct_histories

    cid = np.array([r[0] for r in rows])
    day = np.array([r[1] for r in rows])
    fen = np.array([r[2] for r in rows])
    whole = distinct_histories(summarise(cid, day, fen, end_day=40))
    counter = HistoryCounter(40, merge_every=1)  # compact after every chunk
    bounds = [0, *sorted(set(cuts)), 7]
    for lo, hi in itertools.pairwise(bounds):
        part = (cid > lo) & (cid <= hi)  # whole customers per chunk
        counter.add(summarise(cid[part], day[part], fen[part], end_day=40))
    got = counter.result()
    for name in ("x", "t_x_days", "age_days", "weight", "spend_x", "spend_total_fen", "spend_weight"):
        np.testing.assert_array_equal(getattr(got, name), getattr(whole, name))
    assert (got.customers, got.repeat_customers) == (whole.customers, whole.repeat_customers)
    assert got.weight.sum() == whole.customers


def test_fit_on_distinct_histories_is_the_per_customer_fit() -> None:
    from siyu.segments.clv.model import _fit

    cid, day, fen = cdnow_transactions()
    s = summarise(cid, day, fen, end_day=(CDNOW_END - datetime(1970, 1, 1).date()).days)
    model = fit_clv(s, calibration_end="1998-06-30", fitted_at="t")
    x, tx, T = s.x.astype(float), s.t_x_days.astype(float), s.age_days.astype(float)
    start = np.array([1.0, float(T.mean()) / 10, 1.0, 1.0])
    one_row_each = _fit("BG/NBD", lambda p: bgnbd.log_likelihood(p, x, tx, T), np.ones(x.size), start, 2000)
    np.testing.assert_allclose(model.bgnbd, one_row_each, rtol=1e-6)

"""Fitting BG/NBD + Gamma-Gamma by maximum likelihood, and scoring customers with them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from siyu.kit.errors import Invalid
from siyu.segments.clv import bgnbd, gamma_gamma
from siyu.segments.clv.summary import DistinctHistories, PurchaseSummary, distinct_histories

FloatArray = npt.NDArray[np.float64]
TimeUnit = Literal["day", "week"]
UNIT_DAYS: dict[str, int] = {"day": 1, "week": 7}
HORIZON_DAYS = 90
# log-parameter box: parameters between about 1e-6 and 1e6; an optimum on the box edge
# means the data cannot pin the parameter down, which we report instead of storing.
LOG_BOUND = 6 * np.log(10)
MIN_CUSTOMERS = 10
MIN_REPEAT_CUSTOMERS = 3


class ClvFitError(Invalid):
    """A CLV model could not be fitted: too little data, or no convergence."""

    code = "clv_fit_failed"


@dataclass(frozen=True)
class ClvModel:
    """Fitted parameters: BG/NBD alpha is in ``time_unit``s, Gamma-Gamma gamma in yuan."""

    r: float
    alpha: float
    a: float
    b: float
    p: float
    q: float
    gamma: float
    time_unit: TimeUnit
    customers: int
    repeat_customers: int
    calibration_end: str
    fitted_at: str

    def to_json(self) -> dict[str, Any]:
        """The stored form (also what ``siyu clv fit --json`` builds on)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClvModel:
        """Read a stored model back."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})

    @property
    def bgnbd(self) -> tuple[float, float, float, float]:
        return (self.r, self.alpha, self.a, self.b)

    @property
    def gamma_gamma(self) -> tuple[float, float, float]:
        return (self.p, self.q, self.gamma)


def _fit(
    name: str,
    loglik: Callable[[FloatArray], tuple[FloatArray, FloatArray]],
    weights: FloatArray,
    start: FloatArray,
    max_iterations: int,
) -> FloatArray:
    """Maximise a weighted log-likelihood over log-parameters; raise ClvFitError on failure."""
    total = float(weights.sum())

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        params = np.exp(theta)
        ll, grad = loglik(params)
        value = -float(ll @ weights) / total
        # chain rule through params = exp(theta)
        g = -(grad @ weights) / total * params
        if not np.isfinite(value) or not np.all(np.isfinite(g)):
            return 1e300, np.zeros_like(theta)
        return value, g

    bounds = [(-LOG_BOUND, LOG_BOUND)] * start.size
    # Imported here: scipy.optimize costs every CLI call ~0.5 s at start-up, and only fits use it.
    from scipy.optimize import minimize

    res = minimize(
        objective,
        np.log(start),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": max_iterations, "ftol": 1e-15, "gtol": 1e-10},
    )
    at_edge = np.any(np.abs(res.x) > LOG_BOUND - 1e-3)
    # L-BFGS-B may stop on "abnormal termination in line search" at the optimum
    # (no further progress in float precision): accept that when the gradient is flat.
    flat = np.all(np.abs(res.jac) < 1e-5)
    if not np.isfinite(res.fun) or res.fun >= 1e299 or at_edge or not (res.success or flat):
        params = ", ".join(f"{v:.4g}" for v in np.exp(res.x))
        why = "a parameter ran off to 0 or infinity" if at_edge else str(res.message)
        raise ClvFitError(
            f"the {name} fit did not converge ({why}; stopped at {params} after {res.nit} "
            "iterations). This usually means too little purchase history: try an earlier "
            "--calibration-end, more orders, or --time-unit week",
            field=name,
        )
    return np.asarray(np.exp(res.x), dtype=np.float64)


def fit_clv(
    summary: PurchaseSummary,
    *,
    time_unit: TimeUnit = "day",
    calibration_end: str,
    fitted_at: str,
    max_iterations: int = 2000,
) -> ClvModel:
    """Fit BG/NBD on every customer and Gamma-Gamma on repeat customers with spend > 0."""
    return fit_histories(
        distinct_histories(summary),
        time_unit=time_unit,
        calibration_end=calibration_end,
        fitted_at=fitted_at,
        max_iterations=max_iterations,
    )


def fit_histories(
    histories: DistinctHistories,
    *,
    time_unit: TimeUnit = "day",
    calibration_end: str,
    fitted_at: str,
    max_iterations: int = 2000,
) -> ClvModel:
    """The same fit on distinct histories weighted by how many customers share each.

    The weighted likelihood is the per-customer likelihood summed: the optimum is the
    same, and the work and memory follow the distinct histories, not the customers.
    """
    if time_unit not in UNIT_DAYS:
        raise Invalid(f"time unit must be 'day' or 'week', not {time_unit!r}", field="time_unit")
    n = histories.customers
    repeaters = histories.repeat_customers
    if n < MIN_CUSTOMERS or repeaters < MIN_REPEAT_CUSTOMERS:
        raise ClvFitError(
            f"not enough purchase history to fit CLV models: {n} customers bought on or before "
            f"{calibration_end}, {repeaters} of them came back on a later day; at least "
            f"{MIN_CUSTOMERS} customers and {MIN_REPEAT_CUSTOMERS} returning customers are needed",
            field="calibration_end",
        )
    unit = float(UNIT_DAYS[time_unit])
    x = histories.x.astype(np.float64)
    t_x = histories.t_x_days / unit
    T = histories.age_days / unit
    w = histories.weight
    start = np.array([1.0, max(float(np.average(T, weights=w)), 1e-3) / 10, 1.0, 1.0])
    r, alpha, a, b = _fit("BG/NBD", lambda p: bgnbd.log_likelihood(p, x, t_x, T), w, start, max_iterations)

    spenders = int(histories.spend_weight.sum())
    if spenders < MIN_REPEAT_CUSTOMERS:
        raise ClvFitError(
            f"not enough repeat purchases with a positive value to fit Gamma-Gamma: "
            f"{spenders} customers, at least {MIN_REPEAT_CUSTOMERS} are needed",
            field="calibration_end",
        )
    # spend is modelled in yuan (so gamma reads in yuan, as in the literature and lifetimes)
    gx = histories.spend_x.astype(np.float64)
    gm = histories.spend_total_fen / gx / 100.0
    gw = histories.spend_weight
    gstart = np.array([1.0, 2.0, max(float(np.average(gm, weights=gw)), 1e-3)])
    p, q, g = _fit(
        "Gamma-Gamma", lambda prm: gamma_gamma.log_likelihood(prm, gx, gm), gw, gstart, max_iterations
    )
    return ClvModel(
        r=float(r),
        alpha=float(alpha),
        a=float(a),
        b=float(b),
        p=float(p),
        q=float(q),
        gamma=float(g),
        time_unit=time_unit,
        customers=n,
        repeat_customers=repeaters,
        calibration_end=calibration_end,
        fitted_at=fitted_at,
    )


@dataclass(frozen=True)
class Predictions:
    """Per-customer CLV outputs, aligned with the input arrays."""

    expected_purchases_90d: FloatArray
    p_alive: FloatArray
    expected_value_fen: FloatArray


def predict(
    model: ClvModel,
    *,
    x: npt.ArrayLike,
    t_x_days: npt.ArrayLike,
    age_days: npt.ArrayLike,
    monetary_fen: npt.ArrayLike,
    spend_purchases: npt.ArrayLike | None = None,
) -> Predictions:
    """Expected purchases in the next 90 days, P(alive) and 90-day expected value (fen).

    ``spend_purchases`` is how many purchases ``monetary_fen`` averages over (default x,
    the repeat purchases); the value is expected purchases × expected spend per purchase.
    """
    unit = float(UNIT_DAYS[model.time_unit])
    xa = np.asarray(x, dtype=np.float64)
    tx = np.asarray(t_x_days, dtype=np.float64) / unit
    T = np.asarray(age_days, dtype=np.float64) / unit
    m = np.asarray(monetary_fen, dtype=np.float64)
    k = xa if spend_purchases is None else np.asarray(spend_purchases, dtype=np.float64)
    alive = bgnbd.p_alive(model.bgnbd, xa, tx, T)
    purchases = bgnbd.expected_purchases(model.bgnbd, HORIZON_DAYS / unit, xa, tx, T)
    spend = 100.0 * gamma_gamma.expected_spend(model.gamma_gamma, k, np.where(m > 0, m, 0.0) / 100.0)
    if model.q <= 1:
        # the population mean spend is infinite when q <= 1: keep own-history means only
        spend = np.where(k > 0, spend, np.nan)
    return Predictions(
        expected_purchases_90d=purchases,
        p_alive=alive,
        expected_value_fen=purchases * spend,
    )

"""BG/NBD (Fader, Hardie & Lee 2005): purchase frequency and probability alive.

Parameters r, alpha (purchase rate: Gamma(r, alpha)) and a, b (dropout: Beta(a, b)).
The likelihood is evaluated in log space (gammaln, betaln, logaddexp) with its exact
gradient, and fitted on log-parameters with bounded L-BFGS-B.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

FloatArray = npt.NDArray[np.float64]


def log_likelihood(
    params: npt.ArrayLike, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Per-customer log-likelihood and its gradient with respect to (r, alpha, a, b)."""
    r, alpha, a, b = (float(v) for v in np.asarray(params, dtype=np.float64))
    repeat = x > 0
    xs = np.where(repeat, x, 1.0)  # keeps b + x - 1 > 0 where the second term is unused
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    t1 = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
    t2 = np.where(repeat, betaln(a + 1, b + xs - 1) - betaln(a, b) - (r + x) * np.log(alpha + t_x), -np.inf)
    mix = np.logaddexp(t1, t2)
    ll = common + mix
    w1 = np.exp(t1 - mix)
    w2 = np.exp(t2 - mix)  # 0 where x = 0
    psi_ab, psi_abx = digamma(a + b), digamma(a + b + x)
    d_r = digamma(r + x) - digamma(r) + np.log(alpha) - w1 * np.log(alpha + T) - w2 * np.log(alpha + t_x)
    d_alpha = r / alpha - w1 * (r + x) / (alpha + T) - w2 * (r + x) / (alpha + t_x)
    d_a = w1 * (psi_ab - psi_abx) + w2 * (digamma(a + 1) - digamma(a) + psi_ab - psi_abx)
    d_b = w1 * (digamma(b + x) - psi_abx - digamma(b) + psi_ab) + w2 * np.where(
        repeat, digamma(b + xs - 1) - psi_abx - digamma(b) + psi_ab, 0.0
    )
    return ll, np.stack([d_r, d_alpha, d_a, d_b])


def p_alive(params: npt.ArrayLike, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
    """Probability that each customer is still alive at T (1 for customers without repeats)."""
    r, alpha, a, b = (float(v) for v in np.asarray(params, dtype=np.float64))
    repeat = x > 0
    xs = np.where(repeat, x, 1.0)
    log_odds_dead = np.log(a) - np.log(b + xs - 1) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return np.where(repeat, expit(-log_odds_dead), 1.0)


def expected_purchases(
    params: npt.ArrayLike, t: float, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> FloatArray:
    """Expected purchases in the next ``t`` time units given each customer's history."""
    r, alpha, a, b = (float(v) for v in np.asarray(params, dtype=np.float64))
    z = t / (alpha + T + t)
    shrink = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
    numerator = (a + b + x - 1) / (a - 1) * (1 - shrink * hyp2f1(r + x, b + x, a + b + x - 1, z))
    return np.asarray(numerator * p_alive(params, x, t_x, T), dtype=np.float64)

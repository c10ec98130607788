"""Gamma-Gamma spend model (Fader & Hardie 2013): p, q, gamma.

Fitted on customers with at least one repeat purchase and a positive mean value; the
likelihood of each customer's mean value m over x purchases is evaluated in log space.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.special import digamma, gammaln

FloatArray = npt.NDArray[np.float64]


def log_likelihood(params: npt.ArrayLike, x: FloatArray, m: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per-customer log-likelihood (up to a constant) and gradient wrt (p, q, gamma)."""
    p, q, g = (float(v) for v in np.asarray(params, dtype=np.float64))
    px = p * x
    log_gmx = np.log(g + m * x)
    ll = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(g)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * log_gmx
    )
    psi_pxq = digamma(px + q)
    d_p = x * (psi_pxq - digamma(px) + np.log(m) + np.log(x) - log_gmx)
    d_q = psi_pxq - digamma(q) + np.log(g) - log_gmx
    d_g = q / g - (px + q) / (g + m * x)
    return ll, np.stack([d_p, d_q, d_g])


def expected_spend(params: npt.ArrayLike, x: FloatArray, m: FloatArray) -> FloatArray:
    """Posterior mean spend per purchase; the population mean where a customer has none."""
    p, q, g = (float(v) for v in np.asarray(params, dtype=np.float64))
    population = p * g / (q - 1)
    own = np.divide(p * (g + m * x), p * x + q - 1, out=np.zeros_like(m), where=x > 0)
    return np.where(x > 0, own, population)

"""Customer lifetime value: BG/NBD + Gamma-Gamma fitted by maximum likelihood."""

from siyu.segments.clv.model import ClvFitError, ClvModel, Predictions, fit_clv, predict
from siyu.segments.clv.summary import PurchaseSummary, local_days, summarise

__all__ = [
    "ClvFitError",
    "ClvModel",
    "Predictions",
    "PurchaseSummary",
    "fit_clv",
    "local_days",
    "predict",
    "summarise",
]

"""Customer lifetime value: BG/NBD + Gamma-Gamma fitted by maximum likelihood."""

from siyu.segments.clv.model import ClvFitError, ClvModel, Predictions, fit_clv, fit_histories, predict
from siyu.segments.clv.summary import (
    DistinctHistories,
    HistoryCounter,
    PurchaseSummary,
    distinct_histories,
    local_days,
    summarise,
)

__all__ = [
    "ClvFitError",
    "ClvModel",
    "DistinctHistories",
    "HistoryCounter",
    "Predictions",
    "PurchaseSummary",
    "distinct_histories",
    "fit_clv",
    "fit_histories",
    "local_days",
    "predict",
    "summarise",
]

"""Error measures in cycles: RMSE over all steps, late-life RMSE, and the PHM08 score."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fl_engine.arrays import FloatArray

LATE_LIFE_RUL = 50.0

Values = npt.ArrayLike  # cycles or RULs: an array, or any sequence of numbers


def _floats(values: Values) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


def rmse(pred: Values, true: Values) -> float:
    return float(np.sqrt(np.mean((_floats(pred) - _floats(true)) ** 2)))


def late_life_rmse(pred: Values, true: Values, horizon: float = LATE_LIFE_RUL) -> float:
    """RMSE on steps whose true RUL <= `horizon`: where maintenance decisions are made."""
    t = _floats(true)
    late = t <= horizon
    return rmse(_floats(pred)[late], t[late])


def phm08_score(pred_last: Values, true_last: Values) -> float:
    """PHM08 challenge score (Saxena et al. 2008), summed over engines at their last observed cycle.

    Late predictions (d = pred - true > 0) are punished harder than early ones: exp(d/10) - 1
    against exp(-d/13) - 1, because a missed failure costs more than an early maintenance.
    """
    d = _floats(pred_last) - _floats(true_last)
    return float(np.sum(np.where(d < 0, np.exp(-d / 13.0) - 1.0, np.exp(d / 10.0) - 1.0)))


def naive_prediction(train_lives: Values, cycle: Values) -> tuple[FloatArray, float]:
    """Every engine lives the median training life: RUL = max(median - cycle, 0)."""
    median = float(np.median(_floats(train_lives)))
    return np.maximum(median - _floats(cycle), 0.0), median

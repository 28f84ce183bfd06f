"""Error measures in cycles: RMSE over all steps, late-life RMSE, and the PHM08 score."""

from __future__ import annotations

import numpy as np

LATE_LIFE_RUL = 50.0


def rmse(pred: np.ndarray, true: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred) - np.asarray(true)) ** 2)))


def late_life_rmse(pred: np.ndarray, true: np.ndarray, horizon: float = LATE_LIFE_RUL) -> float:
    """RMSE on steps whose true RUL <= `horizon`: where maintenance decisions are made."""
    late = np.asarray(true) <= horizon
    return rmse(np.asarray(pred)[late], np.asarray(true)[late])


def phm08_score(pred_last: np.ndarray, true_last: np.ndarray) -> float:
    """PHM08 challenge score (Saxena et al. 2008), summed over engines at their last observed cycle.

    Late predictions (d = pred - true > 0) are punished harder than early ones: exp(d/10) - 1
    against exp(-d/13) - 1, because a missed failure costs more than an early maintenance.
    """
    d = np.asarray(pred_last, dtype=np.float64) - np.asarray(true_last, dtype=np.float64)
    return float(np.sum(np.where(d < 0, np.exp(-d / 13.0) - 1.0, np.exp(d / 10.0) - 1.0)))


def naive_prediction(train_lives: np.ndarray, cycle: np.ndarray) -> tuple[np.ndarray, float]:
    """Every engine lives the median training life: RUL = max(median - cycle, 0)."""
    median = float(np.median(train_lives))
    return np.maximum(median - np.asarray(cycle, dtype=np.float64), 0.0), median

"""How far above the truth a model's RUL runs late in life: the margin behind every maintenance.

A model trained for squared error is unbiased on average, not where a decision is made: one that
still predicts 15 cycles at an engine's failure lets it fail, and a failure costs six
maintenances. So every predictive model carries a *margin*: the `level` quantile (default 0.9) of
its own residual `prediction - true RUL` over training cycles whose true RUL <= `window`
(default 30), and the calibrated decision maintains when `prediction - margin` (a lower bound on
the RUL that holds about `level` of the time late in life) falls below the threshold. This is a
one-sided split-conformal bound (Vovk et al. 2005; Angelopoulos & Bates 2021); measured on the
training engines only, never on the engines a model is scored on.

A federation calibrates without sharing data: each node counts its residuals into the same fixed
bins, the server sums the counts (a sum, so it can go through secure aggregation) and reads the
quantile off the summed histogram: the upper edge of the bin where the cumulative share first
reaches `level`, which is within one bin (`BIN_WIDTH` cycles) above the pooled quantile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from fl_engine.arrays import FloatArray

CalibrationMethod = Literal["in-sample", "cross-fit"]
CALIBRATION_METHODS: tuple[str, ...] = ("in-sample", "cross-fit")

DEFAULT_LEVEL = 0.9
DEFAULT_WINDOW = 30.0
# Fixed bins every node shares: residuals in cycles from -256 to +512 in steps of 0.25 (the
# outermost bins also hold anything beyond them). 3,072 counts a node: 24 KiB as int64.
BIN_WIDTH = 0.25
BIN_LOW = -256.0
BIN_HIGH = 512.0
N_BINS = round((BIN_HIGH - BIN_LOW) / BIN_WIDTH)
CountArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class CalibrationSpec:
    """What a margin is the quantile of: `level` of the residuals whose true RUL <= `window`."""

    level: float = DEFAULT_LEVEL
    window: float = DEFAULT_WINDOW

    def __post_init__(self) -> None:
        if not 0.0 < self.level < 1.0:
            raise ValueError(f"calibration level must be between 0 and 1, got {self.level}")
        if not self.window >= 0.0:
            raise ValueError(f"calibration window must be >= 0 cycles, got {self.window}")


def late_rows(true_rul: FloatArray, spec: CalibrationSpec) -> npt.NDArray[np.bool_]:
    """Which rows a margin is measured on: true RUL within the window."""
    return np.asarray(true_rul) <= spec.window


def residual_histogram(
    prediction: FloatArray, true_rul: FloatArray, spec: CalibrationSpec
) -> CountArray:
    """One node's counts [N_BINS] of `prediction - true RUL` over its rows in the window.

    prediction [..., rows] with any leading dims (one histogram per leading index) -> [..., N_BINS].
    """
    pred = np.asarray(prediction, dtype=np.float64)
    late = late_rows(true_rul, spec)
    residual = pred[..., late] - np.asarray(true_rul, dtype=np.float64)[late]  # [..., late rows]
    if not np.isfinite(residual).all():
        raise ValueError("a residual is not finite: the model predicts NaN or infinity")
    bins = np.clip(np.floor((residual - BIN_LOW) / BIN_WIDTH), 0, N_BINS - 1).astype(np.int64)
    flat = bins.reshape(int(np.prod(pred.shape[:-1])), bins.shape[-1])  # [models, late rows]
    offsets = (np.arange(len(flat)) * N_BINS)[:, None]
    counts = np.bincount((flat + offsets).ravel(), minlength=len(flat) * N_BINS)
    return counts.reshape(*pred.shape[:-1], N_BINS).astype(np.int64)


def margin_from_histogram(counts: CountArray, level: float) -> float:
    """The `level` quantile read off summed counts [N_BINS]: the upper edge of the first bin where
    the cumulative share reaches `level`. ValueError when there is nothing to calibrate on."""
    counts = np.asarray(counts)
    total = int(counts.sum())
    if total <= 0:
        raise ValueError("no training cycle in the calibration window: nothing to calibrate on")
    cumulative = np.cumsum(counts)
    first = int(np.searchsorted(cumulative, level * total, side="left"))
    return float(BIN_LOW + (first + 1) * BIN_WIDTH)


def pooled_margin(prediction: FloatArray, true_rul: FloatArray, spec: CalibrationSpec) -> float:
    """The same quantile computed on pooled residuals (the reference the histograms must match)."""
    late = late_rows(true_rul, spec)
    residual = np.asarray(prediction, dtype=np.float64)[late] - np.asarray(true_rul)[late]
    if not len(residual):
        raise ValueError("no training cycle in the calibration window: nothing to calibrate on")
    return float(np.quantile(residual, spec.level, method="inverted_cdf"))


@dataclass(frozen=True)
class Calibration:
    """One model's margin and what it was measured on, as `/api/models` and metrics.json show it."""

    level: float
    window: float
    margin: float
    method: str  # "in-sample" or "cross-fit"
    rows: int  # residuals the margin is the quantile of

    def to_json(self, decision: str) -> dict[str, object]:
        return {
            "decision": decision,
            "level": self.level,
            "window": self.window,
            "margin": self.margin,
            "method": self.method,
            "rows": self.rows,
        }


def calibration_of(counts: CountArray, spec: CalibrationSpec, method: str) -> Calibration:
    """A model's calibration from its (summed) histogram.

    A model with no training cycle in the window (a factory whose four engines all left the data
    more than `window` cycles before failing) has nothing to calibrate on: its margin is 0, so it
    decides on its raw prediction, and `rows` 0 says why."""
    rows = int(counts.sum())
    margin = margin_from_histogram(counts, spec.level) if rows else 0.0
    return Calibration(spec.level, spec.window, margin, method, rows)

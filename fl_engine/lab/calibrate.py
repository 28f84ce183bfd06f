"""A lab model's margin (`fl_engine.calibration`), from counts its nodes send, never residuals.

Each distinct partition (base node) counts the global model's residuals on its own training rows
whose true RUL is within the window into the shared bins; the server sums the counts and reads
the quantile. With secure aggregation on, the counts travel through the same masked sum as the
models (integers: no fixed-point scaling), so the server learns only the total. Replicas of a
base node (above 80 nodes) hold the same rows: they would repeat the same counts, which changes
no quantile, so only base nodes send. An attacker's counts are its honest ones here: poisoning
the calibration is not one of the lab's attacks.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from fl_engine.calibration import Calibration, CalibrationSpec, calibration_of, residual_histogram
from fl_engine.features import ProtocolData
from fl_engine.lab.config import LabConfig
from fl_engine.model_families import Family, TargetScale
from fl_engine.secagg import secure_sum


class Calibratable(Protocol):
    """What a lab run exposes for its calibration."""

    config: LabConfig
    data: ProtocolData
    partition: list[NDArray[np.intp]]  # each base node's protocol rows
    family: Family
    target: TargetScale

    def global_params(self) -> Tensor: ...


def node_counts(run: Calibratable, spec: CalibrationSpec) -> NDArray[np.int64]:
    """[base nodes, N_BINS] each base node's counts of the global model's residuals."""
    data, params = run.data, run.global_params()[None]
    counts = []
    for rows in run.partition:
        engines = np.unique(data.runs.row_engine[rows])
        engine_rows = [data.engine_rows[e] for e in engines]
        flat = np.concatenate(engine_rows)
        positions = np.split(np.arange(len(flat)), np.cumsum([len(r) for r in engine_rows])[:-1])
        true = data.runs.rul[flat]
        late = torch.as_tensor(true <= spec.window)
        inputs = run.family.inputs(data.x[torch.as_tensor(flat)], positions)[late]
        with torch.no_grad():
            pred = run.target.to_cycles(run.family.predict(params, inputs))[0]
        counts.append(
            residual_histogram(pred, true[late.numpy()], CalibrationSpec(spec.level, np.inf))
        )
    return np.stack(counts)


def summed_counts(counts: NDArray[np.int64], secure: bool) -> NDArray[np.int64]:
    """The server's total: a plain sum, or the secure-aggregation sum of the nodes' counts."""
    if not secure or len(counts) < 2:
        total: NDArray[np.int64] = counts.sum(0)
        return total
    result = secure_sum(counts.astype(np.float64), threshold=len(counts), scale_bits=0)
    return np.rint(result.total).astype(np.int64)


def lab_calibration(run: Calibratable, spec: CalibrationSpec | None = None) -> Calibration:
    """The run's global model's margin from its nodes' summed counts."""
    spec = spec or CalibrationSpec()
    counts = node_counts(run, spec)
    return calibration_of(summed_counts(counts, run.config.secure_aggregation), spec, "in-sample")

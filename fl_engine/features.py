"""The FF09 protocol data: engine split, the 16 informative features, standardization.

Features are chosen, and they and the target standardized, with the training engines only, so
nothing about the test engines leaks into training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from fl_engine.arrays import FloatArray, IndexArray, StrArray
from fl_engine.data import SIGNAL_COLUMNS, Runs, informative_columns, split_engines


@dataclass(frozen=True)
class ProtocolData:
    runs: Runs
    feature_columns: list[int]  # indices into runs.signals of the informative columns
    cycle_input: bool  # the cycle count is a model input after them
    feature_names: list[str]
    feature_mean: FloatArray  # [features]
    feature_std: FloatArray  # [features]
    target_mean: float
    target_std: float
    train_engines: IndexArray  # [320] engine indices
    test_engines: IndexArray  # [80]
    x: Tensor  # [rows, features] standardized, float32
    y: Tensor  # [rows] standardized RUL, float32
    engine_rows: list[IndexArray]  # row indices of each engine

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def rows_of(self, engines: IndexArray) -> IndexArray:
        return (
            np.concatenate([self.engine_rows[e] for e in engines])
            if len(engines)
            else np.zeros(0, np.intp)
        )

    def engine_groups(self) -> StrArray:
        """The C-MAPSS subset (fault-mode family) of each engine, e.g. "FD001"."""
        return np.array([self.runs.subset_of(e) for e in range(self.runs.n_engines)])

    def standardize(self, raw_features: FloatArray) -> Tensor:
        return torch.as_tensor(
            (raw_features - self.feature_mean) / self.feature_std, dtype=torch.float32
        )

    def to_cycles(self, y_std: Tensor | FloatArray) -> FloatArray:
        return np.asarray(y_std, dtype=np.float64) * self.target_std + self.target_mean


def model_inputs(runs: Runs, columns: list[int], cycle_input: bool) -> FloatArray:
    """Raw model inputs [rows, features]: the informative columns, then the cycle count if asked.

    The cycle count is known at prediction time (the naive model uses nothing else); on a single
    time step it tells a healthy young engine from a healthy old one, which sensors cannot.
    """
    raw = runs.signals[:, columns]
    return np.column_stack([raw, runs.cycle.astype(np.float64)]) if cycle_input else raw


def prepare_protocol(
    runs: Runs, seed: int, n_test: int = 80, cycle_input: bool = False
) -> ProtocolData:
    train, test = split_engines(runs.n_engines, n_test, seed)
    engine_rows = runs.engine_rows()
    train_rows = np.concatenate([engine_rows[e] for e in train])
    columns = informative_columns(runs.signals[train_rows])  # chosen on training engines only
    raw = model_inputs(runs, columns, cycle_input)
    mean, std = raw[train_rows].mean(0), raw[train_rows].std(0)
    std = np.where(std > 0, std, 1.0)
    t_mean, t_std = float(runs.rul[train_rows].mean()), float(runs.rul[train_rows].std())
    return ProtocolData(
        runs=runs,
        feature_columns=columns,
        cycle_input=cycle_input,
        feature_names=[SIGNAL_COLUMNS[j] for j in columns] + (["cycle"] if cycle_input else []),
        feature_mean=mean,
        feature_std=std,
        target_mean=t_mean,
        target_std=t_std,
        train_engines=train,
        test_engines=test,
        x=torch.as_tensor((raw - mean) / std, dtype=torch.float32),
        y=torch.as_tensor((runs.rul - t_mean) / t_std, dtype=torch.float32),
        engine_rows=engine_rows,
    )

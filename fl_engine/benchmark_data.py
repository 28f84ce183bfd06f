"""The official C-MAPSS benchmark split: train on `train_FD00x`, score on `test_FD00x` + `RUL_FD00x`.

The game's protocol draws a random engine split from FD001+FD003; published RUL results instead
train on one subset's train file and score the last observed cycle of every test-file unit
against the RUL file. This module builds that split as a `ProtocolData` (train-file units are the
training engines, test-file units the held-out ones), so the factory-model machinery (families,
trainers, FedAvg) runs on it unchanged.

FD002 and FD004 run at six operating conditions, and a sensor's level moves far more between
conditions than with wear. Their sensors are standardized per condition (Babu et al. 2016; Li et
al. 2018): the three operational settings sit at six discrete points, so rounding them clusters
the rows exactly; each sensor is then standardized with the mean and std of its condition's
*training* rows. FD001 and FD003 (one condition) keep the protocol's global standardization.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fl_engine.arrays import FloatArray, IndexArray
from fl_engine.data import (
    QUASI_CONSTANT_MODE_SHARE,
    SIGNAL_COLUMNS,
    SUBSETS,
    DataError,
    concat_runs,
    informative_columns,
    load_split,
)
from fl_engine.features import ProtocolData

MULTI_CONDITION = ("FD002", "FD004")
# Factories of the federation: ~4 train-file units each, as in the game (100 -> 25, 260 -> 65,
# 249 -> 62: one factory holds 5 engines).
FEDERATION_SIZES = {"FD001": 25, "FD002": 65, "FD003": 25, "FD004": 62}
SENSOR_COLUMNS = list(range(3, len(SIGNAL_COLUMNS)))  # the 21 sensors; 0-2 are the settings
SETTING_DECIMALS = (0, 2, 0)  # rounding that puts FD002/FD004's settings on their 6 points


@dataclass(frozen=True)
class BenchmarkData:
    subset: str
    protocol: ProtocolData  # runs = train file then test file; x standardized (see `normalization`)
    normalization: str  # "global" or "condition"
    condition: IndexArray  # [rows] operating condition of each row (all 0 for "global")
    condition_mean: FloatArray  # [conditions, features] training statistics of the raw features
    condition_std: FloatArray  # [conditions, features]
    test_units: IndexArray  # [test units] unit numbers as in the test file
    last_rows: IndexArray  # [test units] row of each test unit's last observed cycle

    @property
    def train_rows(self) -> IndexArray:
        return self.protocol.rows_of(self.protocol.train_engines)

    @property
    def test_rows(self) -> IndexArray:
        return self.protocol.rows_of(self.protocol.test_engines)


def operating_conditions(settings: FloatArray) -> tuple[FloatArray, IndexArray]:
    """The distinct rounded settings [conditions, 3] and each row's condition [rows]."""
    keys = np.column_stack(
        [np.round(settings[:, j], d) + 0.0 for j, d in enumerate(SETTING_DECIMALS)]
    )  # + 0.0 turns -0.0 into 0.0
    points, inverse = np.unique(keys, axis=0, return_inverse=True)
    return points, inverse.reshape(-1)


def _conditions(
    train_settings: FloatArray, test_settings: FloatArray, test_file: str
) -> IndexArray:
    """Each row's condition [train rows + test rows], numbered by the training file's points."""
    points, train_cond = operating_conditions(train_settings)
    test_points, test_inverse = operating_conditions(test_settings)
    index = {tuple(p): i for i, p in enumerate(points)}
    unknown = [tuple(p) for p in test_points if tuple(p) not in index]
    if unknown:
        raise DataError(f"{test_file}: operating condition {unknown[0]} never occurs in training")
    mapping = np.array([index[tuple(p)] for p in test_points], dtype=np.intp)
    return np.concatenate([train_cond, mapping[test_inverse]])


def per_condition_columns(raw: FloatArray, condition: IndexArray) -> list[int]:
    """Sensors that vary within the conditions: the row-weighted share of each condition's most
    common value stays under the quasi-constant cut (a sensor that only tracks the condition is
    constant once standardized per condition, and would feed the model nothing but zeros)."""
    keep = []
    for j in SENSOR_COLUMNS:
        share = 0.0
        for c in np.unique(condition):
            _, counts = np.unique(raw[condition == c, j], return_counts=True)
            share += counts.max() / len(raw)
        if share < QUASI_CONSTANT_MODE_SHARE:
            keep.append(j)
    return keep


def load_benchmark(data_dir: Path, subset: str) -> BenchmarkData:
    """`subset`'s train and test files and RUL file, standardized with training statistics only."""
    if subset not in SUBSETS:
        raise DataError(f"unknown C-MAPSS subset {subset!r}; choose from {', '.join(SUBSETS)}")
    train = load_split(data_dir, subset, "train")
    test = load_split(data_dir, subset, "test")
    runs = concat_runs([train, test])  # rows and engines: the train file's first
    n_train = train.n_rows
    per_condition = subset in MULTI_CONDITION
    if per_condition:
        condition = _conditions(train.signals[:, :3], test.signals[:, :3], f"test_{subset}")
        columns = per_condition_columns(train.signals, condition[:n_train])
    else:
        condition = np.zeros(runs.n_rows, dtype=np.intp)
        columns = informative_columns(train.signals)
    raw = runs.signals[:, columns]  # [rows, features]
    n_cond = int(condition.max()) + 1
    mean = np.stack([raw[:n_train][condition[:n_train] == c].mean(0) for c in range(n_cond)])
    std = np.stack([raw[:n_train][condition[:n_train] == c].std(0) for c in range(n_cond)])
    std = np.where(std > 0, std, 1.0)  # [conditions, features]
    x = (raw - mean[condition]) / std[condition]
    rul_train = runs.rul[:n_train]
    t_mean, t_std = float(rul_train.mean()), float(rul_train.std())
    engine_rows = runs.engine_rows()
    test_engines = np.arange(train.n_engines, runs.n_engines)
    protocol = ProtocolData(
        runs=runs,
        feature_columns=columns,
        cycle_input=False,
        feature_names=[SIGNAL_COLUMNS[j] for j in columns],
        # per condition, x is already standardized: the global scaling is then the identity
        feature_mean=mean[0] if n_cond == 1 else np.zeros(len(columns)),
        feature_std=std[0] if n_cond == 1 else np.ones(len(columns)),
        target_mean=t_mean,
        target_std=t_std,
        train_engines=np.arange(train.n_engines),
        test_engines=test_engines,
        x=torch.as_tensor(x, dtype=torch.float32),
        y=torch.as_tensor((runs.rul - t_mean) / t_std, dtype=torch.float32),
        engine_rows=engine_rows,
    )
    return BenchmarkData(
        subset=subset,
        protocol=protocol,
        normalization="condition" if per_condition else "global",
        condition=condition,
        condition_mean=mean,
        condition_std=std,
        test_units=np.array([int(e.rsplit("-", 1)[1]) for e in test.engine_ids], dtype=np.intp),
        last_rows=np.array([engine_rows[e][-1] for e in test_engines], dtype=np.intp),
    )

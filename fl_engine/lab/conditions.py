"""The lab's data for the partition by operating condition: FD002 + FD004, standardized per condition.

FD001/FD003 (the game's data) fly one operating condition; FD002/FD004 fly six, and a sensor's
level moves far more between conditions than with wear. So, as in `benchmark_data` (Babu et al.
2016; Li et al. 2018), each row's condition comes from its rounded operational settings, and each
sensor is standardized with its condition's training-row mean and std. The engine split is the
game's protocol (`split_engines`: a seeded random split of train- and test-file engines, 80
held out), so a lab run on either data set is scored the same way.

FD002/FD004 ship gzipped in data/cmapss/multi_condition (the game's default data directory holds
FD001/FD003 only); a data directory that holds them (the full set) is used first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fl_engine.arrays import IndexArray
from fl_engine.benchmark_data import operating_conditions, per_condition_columns
from fl_engine.data import (
    EMBEDDED_DATA_DIR,
    SIGNAL_COLUMNS,
    DataError,
    Runs,
    load_runs,
    split_engines,
)
from fl_engine.features import ProtocolData

CONDITION_SUBSETS = ("FD002", "FD004")
MULTI_CONDITION_DIR = EMBEDDED_DATA_DIR / "multi_condition"


@dataclass(frozen=True)
class ConditionData:
    protocol: ProtocolData  # x standardized per condition (feature_mean 0, feature_std 1)
    condition: IndexArray  # [rows] each row's operating condition, 0..5
    condition_mean: np.ndarray  # [conditions, features] raw training statistics
    condition_std: np.ndarray  # [conditions, features]


def has_conditions(runs: Runs) -> bool:
    """Whether `runs` holds FD002 or FD004 engines (data the condition partition can use)."""
    return any(e.split("-")[0] in CONDITION_SUBSETS for e in runs.engine_ids)


def condition_runs(data_dir: Path | None = None) -> Runs:
    """FD002 + FD004 (train and test files): from `data_dir` when it holds them, else embedded."""
    for folder in (data_dir, MULTI_CONDITION_DIR):
        if folder is not None and any(Path(folder).glob("train_FD002.txt*")):
            return load_runs(Path(folder), CONDITION_SUBSETS)
    raise DataError(
        f"the operating-condition partition needs FD002/FD004; neither {data_dir} nor "
        f"{MULTI_CONDITION_DIR} holds train_FD002.txt(.gz)"
    )


def condition_protocol(runs: Runs, seed: int, n_test: int = 80) -> ConditionData:
    """The protocol split of `runs` (FD002/FD004 engines), sensors standardized per condition."""
    if not has_conditions(runs):
        raise ValueError("the operating-condition partition needs FD002/FD004 engines")
    _, condition = operating_conditions(runs.signals[:, :3])
    train, test = split_engines(runs.n_engines, n_test, seed)
    engine_rows = runs.engine_rows()
    train_rows = np.concatenate([engine_rows[e] for e in train])
    columns = per_condition_columns(runs.signals[train_rows], condition[train_rows])
    raw = runs.signals[:, columns]
    n_cond = int(condition.max()) + 1
    mean = np.stack([raw[train_rows][condition[train_rows] == c].mean(0) for c in range(n_cond)])
    std = np.stack([raw[train_rows][condition[train_rows] == c].std(0) for c in range(n_cond)])
    std = np.where(std > 0, std, 1.0)
    x = (raw - mean[condition]) / std[condition]
    t_mean, t_std = float(runs.rul[train_rows].mean()), float(runs.rul[train_rows].std())
    protocol = ProtocolData(
        runs=runs,
        feature_columns=columns,
        cycle_input=False,
        feature_names=[SIGNAL_COLUMNS[j] for j in columns],
        feature_mean=np.zeros(len(columns)),  # x is standardized per condition already
        feature_std=np.ones(len(columns)),
        target_mean=t_mean,
        target_std=t_std,
        train_engines=train,
        test_engines=test,
        x=torch.as_tensor(x, dtype=torch.float32),
        y=torch.as_tensor((runs.rul - t_mean) / t_std, dtype=torch.float32),
        engine_rows=engine_rows,
    )
    return ConditionData(protocol, condition, mean, std)

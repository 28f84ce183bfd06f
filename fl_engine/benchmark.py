"""The official benchmark: centralized, federated and every factory alone, scored as published.

Models are trained on the train file of one C-MAPSS subset only (`benchmark_data`) with the
factory models' machinery: the same families, trainers, rounds, FedAvg and seeds as
`factory_training`, so a benchmark number speaks for the game's models. Each model predicts the
RUL at the last observed cycle of every test-file unit, scored against the RUL file: RMSE against
the true RUL capped at 125 (the literature's convention, e.g. Li, Ding & Sun 2018) and the PHM08
score (against the same capped RUL), so the numbers sit next to published ones.

    data = load_benchmark(data_dir, "FD001")
    result = run_benchmark(data, BenchmarkConfig(subset="FD001", seed=0))
    write_benchmark(result, Path("runs/benchmark/FD001"))  # metrics.json, predictions.csv
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from fl_engine.arrays import FloatArray, IndexArray
from fl_engine.benchmark_data import FEDERATION_SIZES, BenchmarkData
from fl_engine.factory_training import Progress, train_stages
from fl_engine.factory_types import FactoryModelsConfig, ModelFamily, ServerOptimizer
from fl_engine.metrics import phm08_score, rmse
from fl_engine.model_families import family_of
from fl_engine.threads import torch_threads
from fl_engine.window import RUL_CAP

FORMAT = "turbofan-tycoon/benchmark/1"
# Published test RMSE (true RUL capped at 125, last cycle of every test unit), for orientation:
# DCNN: Li, Ding & Sun, Reliability Engineering & System Safety 172 (2018);
# LSTM: Zheng et al., IEEE ICPHM 2017.
PUBLISHED_RMSE: dict[str, dict[str, float]] = {
    "FD001": {"DCNN (Li et al. 2018)": 12.61, "LSTM (Zheng et al. 2017)": 16.14},
    "FD002": {"DCNN (Li et al. 2018)": 22.36, "LSTM (Zheng et al. 2017)": 24.49},
    "FD003": {"DCNN (Li et al. 2018)": 12.64, "LSTM (Zheng et al. 2017)": 16.18},
    "FD004": {"DCNN (Li et al. 2018)": 23.31, "LSTM (Zheng et al. 2017)": 28.17},
}


class BenchmarkConfig(BaseModel):
    """The benchmark's settings; a training setting left None takes the family's default
    (`FAMILY_DEFAULTS`, the game's), so the benchmark measures the game's models by default."""

    model_config = ConfigDict(extra="forbid")

    subset: Literal["FD001", "FD002", "FD003", "FD004"] = "FD001"
    seed: int = 0
    model: ModelFamily = "window"
    n_nodes: int | None = Field(default=None, ge=1, description="None: `FEDERATION_SIZES`")
    rounds: int | None = Field(default=None, ge=1)
    centralized_epochs: int | None = Field(default=None, ge=1)
    trainer: Literal["vectorized", "loop"] = "vectorized"
    lr: float | None = Field(default=None, gt=0, description="local Adam step size")
    local_epochs: int | None = Field(default=None, ge=1)
    server_optimizer: ServerOptimizer | None = None
    server_lr: float | None = Field(default=None, gt=0)
    server_momentum: float | None = Field(default=None, ge=0, lt=1)

    def training(self) -> FactoryModelsConfig:
        """The factory models' settings these stand for (the family's defaults filled in)."""
        given = {
            "rounds": self.rounds,
            "centralized_epochs": self.centralized_epochs,
            "n_nodes": self.n_nodes or FEDERATION_SIZES[self.subset],
            "lr": self.lr,
            "local_epochs": self.local_epochs,
            "server_optimizer": self.server_optimizer,
            "server_lr": self.server_lr,
            "server_momentum": self.server_momentum,
        }
        return FactoryModelsConfig(
            seed=self.seed,
            model=self.model,
            trainer=self.trainer,
            **{k: v for k, v in given.items() if v is not None},
        )


@dataclass
class BenchmarkResult:
    config: BenchmarkConfig
    data: BenchmarkData
    predictions: dict[str, FloatArray]  # "centralized", "federated" [units]; "local" [nodes, units]
    node_units: list[list[str]]  # engine ids of each factory
    trained_rows: dict[str, IndexArray]  # rows any minibatch of the stage drew (its targets)
    input_rows: IndexArray  # the rows the scored inputs were cut from: the test-file units' rows
    metrics: dict[str, Any]  # JSON-able, written as metrics.json


def run_benchmark(
    data: BenchmarkData,
    cfg: BenchmarkConfig,
    progress: Progress | None = None,
    *,
    threads: int | None = 1,
) -> BenchmarkResult:
    """Train the three kinds of model on the train file and score them on the test file.
    `progress(stage, done, total)` as in `factory_training`; `threads`: torch threads meanwhile."""
    with torch_threads(threads):
        return _run(data, cfg, progress or (lambda stage, done, total: None))


def _run(data: BenchmarkData, cfg: BenchmarkConfig, tick: Progress) -> BenchmarkResult:
    start = time.perf_counter()
    if cfg.subset != data.subset:
        raise ValueError(f"the settings are for {cfg.subset} but the data is {data.subset}")
    train = cfg.training()
    pd = data.protocol
    if train.n_nodes > len(pd.train_engines):
        raise ValueError(
            f"{train.n_nodes} factories need as many train units; {data.subset} has "
            f"{len(pd.train_engines)}"
        )
    family = family_of(train.model, {"n_features": pd.n_features})
    seconds = {"prepare": time.perf_counter() - start}
    # the same deal, stages, batches and seeds as the game's factory models
    trained = train_stages(pd, family, train, tick, seconds)
    target, partition = trained.target, trained.partition
    central, fed, local = trained.centralized, trained.federated, trained.local

    t = time.perf_counter()
    tick("evaluate", 0, 1)
    engines = [pd.engine_rows[e] for e in pd.test_engines]
    rows = np.concatenate(engines)  # every test-file row, unit by unit
    positions = np.split(np.arange(len(rows)), np.cumsum([len(r) for r in engines])[:-1])
    inputs = family.inputs(pd.x[torch.as_tensor(rows)], positions)[[p[-1] for p in positions]]
    stacked = torch.cat([central.params[:1], fed.params[:1], local.params])  # [2 + nodes, P]
    pred = target.to_cycles(family.predict(stacked, inputs))  # [2 + nodes, units]
    predictions = {"centralized": pred[0], "federated": pred[1], "local": pred[2:]}
    seconds["evaluate"] = time.perf_counter() - t
    tick("evaluate", 1, 1)
    seconds["total"] = time.perf_counter() - start
    trained_rows = {
        name: np.flatnonzero(r.fed.any(0).numpy())
        for name, r in (("centralized", central), ("federated", fed), ("local", local))
    }
    ids = pd.runs.engine_ids
    result = BenchmarkResult(
        config=cfg,
        data=data,
        predictions=predictions,
        node_units=[[ids[e] for e in part] for part in partition],
        trained_rows=trained_rows,
        input_rows=rows,
        metrics={},
    )
    result.metrics = _metrics(result, train, seconds, family.describe())
    return result


def true_rul(data: BenchmarkData) -> FloatArray:
    """The RUL file's value for every test unit [units] (the RUL at its last observed cycle)."""
    return data.protocol.runs.rul[data.last_rows]


def scores(pred: FloatArray, true: FloatArray) -> dict[str, float]:
    """The published measures of one model's last-cycle predictions [units]."""
    capped = np.minimum(true, RUL_CAP)
    return {
        "rmse_capped": rmse(pred, capped),
        "phm08_score": phm08_score(pred, capped),
        "rmse_uncapped": rmse(pred, true),
    }


def median_factory(local: FloatArray, true: FloatArray) -> int:
    """The factory whose local model has the median capped RMSE (the lower one of an even count)."""
    errors = [rmse(p, np.minimum(true, RUL_CAP)) for p in local]
    return int(np.argsort(errors, kind="stable")[(len(errors) - 1) // 2])


def _metrics(
    result: BenchmarkResult,
    train: FactoryModelsConfig,
    seconds: dict[str, float],
    model: dict[str, Any],
) -> dict[str, Any]:
    data, p = result.data, result.predictions
    true = true_rul(data)
    local = [scores(x, true) for x in p["local"]]
    median = median_factory(p["local"], true)
    capped_local = np.array([s["rmse_capped"] for s in local])
    return {
        "format": FORMAT,
        "subset": data.subset,
        "test_units": len(true),
        "rul_cap": RUL_CAP,
        "centralized": scores(p["centralized"], true),
        "federated": scores(p["federated"], true),
        "local_median": {
            "rmse_capped": float(np.median(capped_local)),
            "phm08_score": float(np.median([s["phm08_score"] for s in local])),
            "factory": median,
            "factory_scores": local[median],
            "rmse_capped_p10": float(np.percentile(capped_local, 10)),
            "rmse_capped_p90": float(np.percentile(capped_local, 90)),
        },
        "local": local,
        "published_rmse": PUBLISHED_RMSE.get(data.subset, {}),
        "settings": {
            **train.model_dump(exclude={"n_test_engines"}),
            "normalization": data.normalization,
            "conditions": len(data.condition_mean),
            "features": data.protocol.feature_names,
            "model": model,
        },
        "node_units": result.node_units,
        "trained_row_counts": {k: len(v) for k, v in result.trained_rows.items()},
        "train_rows": len(data.train_rows),
        "seconds": seconds,
    }


def write_benchmark(result: BenchmarkResult, out_dir: Path) -> None:
    """`metrics.json` and `predictions.csv` (one row per test unit; `true_rul` uncapped, from the
    RUL file; floats written in full so the metrics can be recomputed from the file exactly)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    p = result.predictions
    median = result.metrics["local_median"]["factory"]
    with (out_dir / "predictions.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["unit", "true_rul", "centralized", "federated", "local_median_factory"])
        for i, (unit, true) in enumerate(
            zip(result.data.test_units, true_rul(result.data), strict=True)
        ):
            row = (p["centralized"][i], p["federated"][i], p["local"][median, i])
            writer.writerow([int(unit), int(true), *(repr(float(v)) for v in row)])
    (out_dir / "metrics.json").write_text(json.dumps(result.metrics, indent=1))

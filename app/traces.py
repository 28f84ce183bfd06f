"""The bridge from the engine to the game: held-out engines with each model's predicted RUL.

Predictions are computed once here, at start-up, so a game tick never calls a model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from fl_engine.artifacts import METRICS_FILE, ArtifactError, load_artifacts, save_artifacts
from fl_engine.data import SIGNAL_COLUMNS, Runs, load_runs, resolve_data_dir
from fl_engine.experiment import ExperimentConfig, run_experiment
from fl_engine.features import model_inputs
from fl_engine.model import MLPConfig, predict

if TYPE_CHECKING:
    from app.settings import Settings


@dataclass(frozen=True)
class EngineTrace:
    """One held-out engine that ran to failure, replayed cycle by cycle in a factory slot.

    Row k is cycle k+1. The engine fails after its last row, so its true RUL at row k is
    `n_cycles - 1 - k`.
    """

    engine_id: str  # e.g. "FD001-train-17"
    sensors: np.ndarray  # [cycles, 16] feature values in raw units (for the sensor charts)
    local_rul: np.ndarray  # [cycles] RUL predicted by the local (one-factory) model
    federated_rul: np.ndarray  # [cycles] RUL predicted by the federated model

    @property
    def n_cycles(self) -> int:
        return len(self.sensors)


@dataclass(frozen=True)
class GameModels:
    """What the game needs from the engine, computed once at start-up."""

    traces: list[EngineTrace]  # held-out engines that ran to failure
    feature_names: list[str]  # the 16 sensor features, in `EngineTrace.sensors` column order
    metrics: dict  # the engine's metrics.json (naive/centralized/local/federated RMSE, curves...)


def build_traces(
    runs: Runs, metrics: dict, mlp: MLPConfig, params: dict[str, torch.Tensor]
) -> list[EngineTrace]:
    """Replayable engines: the test-split engines from the train files, which ran to failure and
    which no model was trained on; each with both models' predicted RUL at every cycle."""
    index = {engine_id: i for i, engine_id in enumerate(runs.engine_ids)}
    unknown = [e for e in metrics["test_engines"] if e not in index]
    if unknown:
        raise ArtifactError(
            f"the trained models were made on other data (engine {unknown[0]} is not in it); "
            "retrain them or point --artifacts at a fresh directory"
        )
    names = metrics["feature_names"]
    sensor_columns = [SIGNAL_COLUMNS.index(n) for n in names if n != "cycle"]
    inputs = model_inputs(runs, sensor_columns, cycle_input="cycle" in names)
    mean, std = np.asarray(metrics["feature_mean"]), np.asarray(metrics["feature_std"])
    t_mean, t_std = metrics["target_mean"], metrics["target_std"]
    engine_rows = runs.engine_rows()
    traces = []
    for engine_id in metrics["test_engines"]:
        e = index[engine_id]
        if not runs.run_to_failure[e]:
            continue
        rows = engine_rows[e]
        x = torch.as_tensor((inputs[rows] - mean) / std, dtype=torch.float32)
        rul = {
            name: np.maximum(predict(mlp, params[name], x).numpy() * t_std + t_mean, 0.0)
            for name in ("local", "federated")
        }
        traces.append(
            EngineTrace(
                engine_id, runs.signals[rows][:, sensor_columns], rul["local"], rul["federated"]
            )
        )
    return traces


def ensure_artifacts(
    artifacts_dir: Path,
    runs: Runs,
    seed: int,
    say: Callable[[str], None] = lambda m: print(m, flush=True),
) -> tuple[dict, MLPConfig, dict[str, torch.Tensor]]:
    """Load trained models from `artifacts_dir`, or train them once (seconds) and cache them there."""
    if not (Path(artifacts_dir) / METRICS_FILE).is_file():
        say(
            f"no trained models in {artifacts_dir}: training them now (seed {seed}), cached for next time"
        )

        def progress(stage: str, done: int, total: int) -> None:
            if done == total:
                say(f"  trained {stage}")

        save_artifacts(
            run_experiment(runs, ExperimentConfig(seed=seed), progress), Path(artifacts_dir)
        )
    return load_artifacts(Path(artifacts_dir))


def load_game_models(settings: Settings) -> GameModels:
    runs = load_runs(resolve_data_dir(settings.data_dir))
    metrics, mlp, params = ensure_artifacts(settings.artifacts_dir, runs, settings.seed)
    names = [n for n in metrics["feature_names"] if n != "cycle"]
    return GameModels(
        traces=build_traces(runs, metrics, mlp, params), feature_names=names, metrics=metrics
    )

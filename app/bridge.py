"""The bridge from the engine to the game: held-out engines with each model's predicted RUL.

The only module that imports both `fl_engine` and `app.game`; neither imports it. Predictions
are computed once here, at start-up, so a game tick never calls a model.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from rich.console import Console

from app.game.engines import EngineTrace, GameModels
from app.reporting import stage_progress
from fl_engine.artifacts import METRICS_FILE, ArtifactError, load_artifacts, save_artifacts
from fl_engine.data import SIGNAL_COLUMNS, Runs, load_runs, resolve_data_dir
from fl_engine.experiment import ExperimentConfig, run_experiment
from fl_engine.features import model_inputs
from fl_engine.model import MLPConfig, predict

if TYPE_CHECKING:
    from app.web.settings import Settings


def build_traces(
    runs: Runs, metrics: dict[str, Any], mlp: MLPConfig, params: dict[str, torch.Tensor]
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
                engine_id,
                runs.signals[rows][:, sensor_columns],
                rul["local"][None, :],
                rul["federated"],
            )
        )
    return traces


def ensure_artifacts(
    artifacts_dir: Path, runs: Runs, seed: int, console: Console | None = None
) -> tuple[dict[str, Any], MLPConfig, dict[str, torch.Tensor]]:
    """Load trained models from `artifacts_dir`, or train them once and cache them there."""
    if not (Path(artifacts_dir) / METRICS_FILE).is_file():
        console = console or Console()
        console.print(
            f"no trained models in {artifacts_dir}: training them now (seed {seed}), "
            "cached for next time",
            highlight=False,
        )
        with stage_progress(console) as progress:
            result = run_experiment(runs, ExperimentConfig(seed=seed), progress)
        save_artifacts(result, Path(artifacts_dir))
    return load_artifacts(Path(artifacts_dir))


MODEL_FAMILIES = ("window", "ff09")


def game_models_for(
    runs: Runs, artifacts_dir: Path, seed: int, model: str, console: Console | None = None
) -> GameModels:
    """The game's models of one training seed and family, trained once and cached."""
    if model != "ff09":
        raise ValueError(f"model family {model!r} is not available yet")
    metrics, mlp, params = ensure_artifacts(
        artifacts_dir / f"ff09-seed-{seed}", runs, seed, console
    )
    names = [n for n in metrics["feature_names"] if n != "cycle"]
    return GameModels(
        traces=build_traces(runs, metrics, mlp, params),
        model="ff09",
        feature_names=names,
        metrics=metrics,
    )


def load_game_models(settings: Settings) -> GameModels:
    """The held-out engines with both models' predictions, for the server's settings."""
    runs = load_runs(resolve_data_dir(settings.data_dir))
    metrics, mlp, params = ensure_artifacts(settings.artifacts_dir, runs, settings.seed)
    names = [n for n in metrics["feature_names"] if n != "cycle"]
    return GameModels(
        traces=build_traces(runs, metrics, mlp, params),
        model="ff09",
        feature_names=names,
        metrics=metrics,
    )

"""The bridge from the engine to the game: held-out engines with every model's predicted RUL.

The only module that imports both `fl_engine` and `app.game`; neither imports it. The game's
models are the factory models (`fl_engine.factory_models`): each of the 80 factories' own local
model, the federated model over all of them and a centralized reference. The default family and
seed ship with the game (data/models); others are trained once per (family, seed) and cached
under the artifacts directory. They are asked once here, at start-up, for every cycle of every
held-out engine, so a game tick never calls a model.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.console import Console

from app.game.compare import compare_seed
from app.game.engines import EngineTrace, GameModels, Margins
from app.game.settings import GameSettings
from app.reporting import stage_progress
from fl_engine.artifacts import ArtifactError, OutdatedArtifactError
from fl_engine.data import SIGNAL_COLUMNS, Runs, load_runs, resolve_data_dir
from fl_engine.factory_models import (
    FactoryModels,
    FactoryModelsConfig,
    data_fingerprint,
    load_factory_models,
    save_factory_models,
    train_factory_models,
)
from fl_engine.metrics import naive_prediction, rmse

if TYPE_CHECKING:
    from app.web.settings import Settings

MODEL_FAMILIES = ("window", "ff09")
POLICY_TICKS = 5000  # the ticks `tycoon compare` plays by default
# Trained models that ship with the game (`tycoon train-game-models --out data/models` makes
# them): the default family and seed, so the first `tycoon serve` starts in seconds, not ~45 s.
SHIPPED_MODELS_DIR = Path(__file__).resolve().parent.parent / "data" / "models"


def models_dir(artifacts_dir: Path, model: str, seed: int, calibration: str = "in-sample") -> Path:
    """Where the factory models of one family, seed and calibration method are cached."""
    suffix = "" if calibration == "in-sample" else f"-{calibration}"
    return Path(artifacts_dir) / f"game-{model}-seed-{seed}{suffix}"


def ensure_factory_models(
    artifacts_dir: Path,
    runs: Runs,
    seed: int,
    model: str,
    console: Console | None = None,
    shipped_dir: Path | None = SHIPPED_MODELS_DIR,
    calibration: str = "in-sample",
) -> FactoryModels:
    """The factory models of (`model`, `seed`, `calibration`): cached under `artifacts_dir`, else
    the shipped ones if they were made from exactly this data and configuration, else trained once
    and cached (also over a cache an older version wrote).
    """
    if model not in MODEL_FAMILIES:
        raise ValueError(f"unknown model family {model!r}; expected one of {MODEL_FAMILIES}")
    artifacts_dir = Path(artifacts_dir)
    if artifacts_dir.exists() and not artifacts_dir.is_dir():
        # else a file there would be silently ignored (shipped models) or fail half-way (training)
        raise ArtifactError(f"the artifacts directory {artifacts_dir} is a file, not a directory")
    folder = models_dir(artifacts_dir, model, seed, calibration)
    config = FactoryModelsConfig(seed=seed, model=model, calibration=calibration)
    console = console or Console()
    why = f"no {model} game models for seed {seed} in {folder}"
    if folder.exists():
        try:
            cached = load_factory_models(folder)
        except OutdatedArtifactError as exc:
            why = str(exc)
            console.print(f"{why}: replacing them", highlight=False)
        else:
            stale = _stale(cached, runs, config)
            if stale is None:
                return cached
            why = f"the {model} game models cached in {folder} were made with {stale}"
            console.print(f"{why}: replacing them", highlight=False)
    shipped = shipped_models(shipped_dir, runs, config, console)
    if shipped is not None:
        return shipped
    console.print(f"{why}: training them now, cached for next time", highlight=False)
    with stage_progress(console) as progress:
        trained = train_factory_models(runs, config, progress)
    save_factory_models(trained, folder)
    return load_factory_models(folder)


def _stale(models: FactoryModels, runs: Runs, config: FactoryModelsConfig) -> str | None:
    """What differs between cached models and what training would make now, or None.

    A cache trained by an earlier version with other settings (say another learning rate or
    server optimizer) would otherwise be played silently, and every figure on screen would
    describe models the code no longer makes.
    """
    if models.config != config:
        old, new = models.config.model_dump(), config.model_dump()
        changed = [f"{k} {old[k]!r} (now {new[k]!r})" for k in new if old.get(k) != new[k]]
        return "other settings: " + ", ".join(changed)
    known = models.metrics.get("data_fingerprint")
    if known is not None and known != data_fingerprint(runs):
        return "other data"
    return None


def shipped_models(
    shipped_dir: Path | None, runs: Runs, config: FactoryModelsConfig, console: Console
) -> FactoryModels | None:
    """The shipped models of `config`, or None where there are none or they do not fit.

    They fit only the data they were trained on (`data_fingerprint`: with --data-dir at other
    C-MAPSS files, even with the same engine ids, the split and every model would differ) and
    the configuration training would use now; anything else means training, never an error.
    """
    if shipped_dir is None:
        return None
    model, seed = config.model, config.seed
    folder = models_dir(shipped_dir, model, seed, config.calibration)
    if not folder.is_dir():
        return None
    try:
        models = load_factory_models(folder)
    except ArtifactError as exc:
        console.print(f"the shipped models cannot be used: {exc}", highlight=False)
        return None
    known = set(runs.engine_ids)
    engines = [*models.test_engines, *(e for node in models.node_engines for e in node)]
    if (
        models.metrics.get("data_fingerprint") != data_fingerprint(runs)
        or models.config != config
        or not known.issuperset(engines)
    ):
        console.print(
            f"the shipped {model} models for seed {seed} were made from other data or "
            "settings: training them for this data",
            highlight=False,
        )
        return None
    console.print(f"using the shipped {model} game models for seed {seed}", highlight=False)
    return models


def build_traces(runs: Runs, models: FactoryModels) -> list[EngineTrace]:
    """Replayable engines: the held-out engines that ran to failure (from the train files), which
    no model saw, with every model's predicted RUL at each of their cycles."""
    index = {engine_id: i for i, engine_id in enumerate(runs.engine_ids)}
    unknown = [e for e in models.test_engines if e not in index]
    if unknown:
        raise ArtifactError(
            f"the trained models were made on other data (engine {unknown[0]} is not in it); "
            "retrain them or point --artifacts at a fresh directory"
        )
    replayable = [e for e in models.test_engines if runs.run_to_failure[index[e]]]
    columns = [SIGNAL_COLUMNS.index(n) for n in models.features.names]
    engine_rows = runs.engine_rows()
    margins = margins_of(models)
    return [
        EngineTrace(
            engine_id=p.engine_id,
            sensors=runs.signals[engine_rows[index[p.engine_id]]][:, columns],
            local_rul=p.local,
            federated_rul=p.federated,
            centralized_rul=p.centralized,
            margins=margins,
        )
        for p in models.predict(runs, replayable)
    ]


def margins_of(models: FactoryModels) -> Margins:
    """The game's view of the models' calibration: one margin per model (per factory for local)."""
    c = models.calibration
    return Margins(
        federated=c.federated.margin,
        centralized=c.centralized.margin,
        local=np.array([m.margin for m in c.local]),
    )


def naive_rmse(runs: Runs, models: FactoryModels) -> float:
    """The yardstick of the model panel: every engine lives the median training life."""
    index = {engine_id: i for i, engine_id in enumerate(runs.engine_ids)}
    engine_rows = runs.engine_rows()
    trained = {e for node in models.node_engines for e in node}
    lives = [
        runs.cycle[engine_rows[index[e]][0]] + runs.rul[engine_rows[index[e]][0]] for e in trained
    ]
    rows = np.concatenate([engine_rows[index[e]] for e in models.test_engines])
    prediction, _ = naive_prediction(np.asarray(lives), runs.cycle[rows])
    return rmse(prediction, runs.rul[rows])


def panel_metrics(runs: Runs, models: FactoryModels, decision: str) -> dict[str, Any]:
    """The engine's test metrics as the dashboard's model panel and /api/models read them, with
    each model's calibration under the game's `decision`."""
    m = models.metrics
    local_rmse, local_late = m["rmse"]["local"], m["late_life_rmse"]["local"]
    return {
        "model": m["family"],
        "naive_rmse": naive_rmse(runs, models),
        "centralized_rmse": m["rmse"]["centralized"],
        "federated_rmse": m["rmse"]["federated"],
        "local_rmse": float(np.median(local_rmse)),
        "centralized_late_life_rmse": m["late_life_rmse"]["centralized"],
        "federated_late_life_rmse": m["late_life_rmse"]["federated"],
        "local_late_life_rmse": float(np.median(local_late)),
        "federated_curve": m.get("federated_curve", []),
        "calibration": models.calibration.to_json(decision),
        "factories": [
            {"node": node, "rmse": r, "late_life_rmse": late}
            for node, (r, late) in enumerate(zip(local_rmse, local_late, strict=True))
        ],
    }


def game_models_for(
    runs: Runs,
    artifacts_dir: Path,
    seed: int,
    model: str,
    console: Console | None = None,
    *,
    calibration: str = "in-sample",
    game: GameSettings | None = None,
) -> GameModels:
    """The game's engines and models of one training seed and family, trained once and cached.

    The metrics add what each policy does with them under the game's rules (`game`, default
    settings if None): % of the oracle's profit and failures over `POLICY_TICKS` ticks of fair
    draws seeded `seed` (`app.game.compare`; local: the median factory)."""
    game = game or GameSettings()
    models = ensure_factory_models(
        artifacts_dir, runs, seed, model, console, calibration=calibration
    )
    traces = build_traces(runs, models)
    played = compare_seed(traces, game, seed, POLICY_TICKS)
    percent = dict(played.percent_of_oracle)
    percent["local_median"] = float(np.median(played.local_by_factory))
    metrics = panel_metrics(runs, models, game.decision)
    metrics["policies"] = {
        "ticks": POLICY_TICKS,
        "percent_of_oracle": percent,
        "failures": played.failures,
        "local_by_node": {
            "percent_of_oracle": played.local_by_factory,
            "failures": played.local_failures,
        },
    }
    return GameModels(
        traces=traces, model=model, feature_names=list(models.features.names), metrics=metrics
    )


def load_game_models(settings: Settings) -> GameModels:
    """The held-out engines with every model's predictions, for the server's settings."""
    runs = load_runs(resolve_data_dir(settings.data_dir))
    return game_models_for(
        runs,
        settings.artifacts_dir,
        settings.seed,
        settings.model,
        calibration=settings.calibration,
        game=settings.game,
    )

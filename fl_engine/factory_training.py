"""Training the factory models: centralized, federated over every factory, and every factory alone.

The engine split and the deal of engines to factories are the FF09 protocol's (`prepare_protocol`
and the IID partition with the same seed), so factory i holds the same engines as node i of
`run_experiment`. All models start from the same seeded weights. Federated and local training
draw the same minibatches: the two differ only in the averaging (`rounds.py`). Centralized is one
node holding all training engines, `centralized_epochs` epochs of `centralized_batch_size`.

Progress stages, each told (done, total) from 0 to total: "centralized" (epochs), "federated"
and "local" (rounds), "evaluate" (0/1, 1/1). The metrics (`metrics` of the result, JSON-able):
test RMSE, late-life RMSE (true RUL <= 50) and RMSE against the RUL capped at 125 of every
model ("local": one per factory, plus `local_summary`), the share of factories whose own model
is worse late in life than the federated one, test curves after each round (federated) and epoch
(centralized), the engines and row counts each model's minibatches drew, the data they came from
(`data_fingerprint`), seconds per stage.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor

from fl_engine.arrays import IndexArray
from fl_engine.data import Runs
from fl_engine.factory_calibration import (
    CROSS_FIT_FOLDS,
    FactoryCalibration,
    ResidualCounts,
    cross_fit_folds,
    residual_counts,
)
from fl_engine.factory_federation import FederationInputs, FederationResult, FederationRunner
from fl_engine.factory_types import (
    FactoryModels,
    FactoryModelsConfig,
    FeatureScaling,
    data_fingerprint,
)
from fl_engine.features import ProtocolData, prepare_protocol
from fl_engine.held_out import HeldOutSet
from fl_engine.local_training import AdamConfig
from fl_engine.metrics import LATE_LIFE_RUL
from fl_engine.model_families import Family, TargetScale, family_of
from fl_engine.partition import iid
from fl_engine.rounds import RoundsResult, Stage, train_rounds
from fl_engine.threads import torch_threads
from fl_engine.window import RUL_CAP

Progress = Callable[[str, int, int], None]  # (stage, done, total)
FORMAT = "turbofan-tycoon/factory-models/2"  # 2: every model carries its calibration
OLDER_FORMATS = ("turbofan-tycoon/factory-models/1",)
# metrics.json states the calibrated decision; the game's setting may choose raw (`/api/models`).
DECISION_OF_RECORD = "calibrated"


def _summary(values: list[float]) -> dict[str, float]:
    v = np.asarray(values)
    return {
        "median": float(np.median(v)),
        "p10": float(np.percentile(v, 10)),
        "p90": float(np.percentile(v, 90)),
        "mean": float(v.mean()),
        "min": float(v.min()),
        "max": float(v.max()),
    }


def _engines(data: ProtocolData, rows: Tensor) -> list[str]:
    """Engine ids of the rows marked in a bool mask [n_rows]."""
    engines = np.unique(data.runs.row_engine[rows.numpy()])
    return [data.runs.engine_ids[e] for e in engines]


def train_factory_models(
    runs: Runs,
    cfg: FactoryModelsConfig,
    progress: Progress | None = None,
    *,
    threads: int | None = 1,
    federation: FederationRunner | None = None,
) -> FactoryModels:
    """Train centralized, federated and every factory's local model (see the module docstring).

    `progress(stage, done, total)` is told each round of each stage. `threads`: torch threads
    while training (see `fl_engine.threads`); the results do not depend on it beyond float rounding.
    `federation`: where the federated and local stages run (None: here, `rounds.train_rounds`).
    """
    with torch_threads(threads):
        return _train(runs, cfg, progress, federation)


@dataclass
class TrainedStages:
    """The three stages' results, with the deal of engines and the target scale they used."""

    partition: list[IndexArray]  # engines of each factory
    target: TargetScale
    centralized: RoundsResult
    federated: RoundsResult
    local: RoundsResult
    on_nodes: FederationResult | None = None  # a runner's result, with the nodes' counts


def train_stages(
    data: ProtocolData,
    family: Family,
    cfg: FactoryModelsConfig,
    tick: Progress,
    seconds: dict[str, float],
    after_round: Callable[[str, Tensor], None] | None = None,
    holdout: list[IndexArray] | None = None,
    federation: FederationRunner | None = None,
) -> TrainedStages:
    """Centralized, federated over every factory, and every factory alone, from one seeded start.

    Shared by the game's models and `benchmark`, so both deal engines, seed minibatches and count
    epochs the same way. `after_round(stage, params)` runs after each round, before `tick`. Only
    the federated stage uses `cfg.server_optimizer`. `holdout[i]`: engines factory i leaves out of
    every stage (a cross-fit fold); the deal and the seeds stay those of the full run.
    `federation` trains the federated and local stages elsewhere (`factory_federation`)."""
    target = family.target_scale(data)
    rng = np.random.default_rng(cfg.seed)
    partition = iid(data.train_engines, data.engine_groups(), cfg.n_nodes, rng)
    kept = (
        partition
        if holdout is None
        else [np.setdiff1d(p, h) for p, h in zip(partition, holdout, strict=True)]
    )
    node_rows: list[IndexArray] = [data.rows_of(p) for p in kept]
    init = family.initial_params(cfg.seed)
    adam = AdamConfig(lr=cfg.lr)
    pooled, nodes = family.stages(data, target.encode(data.runs.rul), node_rows, adam, cfg.trainer)

    def run(
        name: str, stage: Stage, rounds: int, epochs: int, batch: int, seed: int, average: bool
    ) -> RoundsResult:
        def on_round(done: int, params: Tensor) -> None:
            if after_round is not None:
                after_round(name, params)
            tick(name, done, rounds)

        t = time.perf_counter()
        tick(name, 0, rounds)
        generator = torch.Generator().manual_seed(seed)
        server = cfg.server_rule() if name == "federated" else None  # None: plain FedAvg
        result = train_rounds(
            stage,
            init,
            rounds,
            epochs,
            batch,
            generator,
            data.runs.n_rows,
            average,
            on_round,
            server,
        )
        seconds[name] = time.perf_counter() - t
        return result

    pooled_epochs = cfg.centralized_epochs or cfg.rounds * cfg.local_epochs
    central = run(
        "centralized", pooled, pooled_epochs, 1, cfg.centralized_batch_size, cfg.seed + 1, False
    )
    if federation is not None:
        t = time.perf_counter()
        done = federation(FederationInputs(data, family, cfg, init, nodes, tick, after_round))
        seconds["federated"] = time.perf_counter() - t
        return TrainedStages(partition, target, central, done.federated, done.local, done)
    # local draws the same minibatches as federated: the two differ only in the averaging (and
    # the server's step on it, `cfg.server_optimizer`)
    federated = run(
        "federated", nodes, cfg.rounds, cfg.local_epochs, cfg.batch_size, cfg.seed + 2, True
    )
    local = run("local", nodes, cfg.rounds, cfg.local_epochs, cfg.batch_size, cfg.seed + 2, False)
    return TrainedStages(partition, target, central, federated, local)


def _train(
    runs: Runs, cfg: FactoryModelsConfig, progress: Progress | None, runner: FederationRunner | None
) -> FactoryModels:
    tick = progress or (lambda stage, done, total: None)
    seconds: dict[str, float] = {}
    t0 = start = time.perf_counter()
    data = prepare_protocol(runs, cfg.seed, cfg.n_test_engines)
    if cfg.n_nodes > len(data.train_engines):
        raise ValueError(
            f"n_nodes={cfg.n_nodes} factories need at least as many training engines; "
            f"the protocol has {len(data.train_engines)}"
        )
    family = family_of(cfg.model)
    scale = family.target_scale(data)  # the one `train_stages` trains against
    test = HeldOutSet(data, family)
    seconds["prepare"] = time.perf_counter() - t0
    curves: dict[str, list[float]] = {}

    def after_round(name: str, params: Tensor) -> None:
        """Test RMSE and late-life RMSE of the pooled and the federated model after each round."""
        if name != "local":
            s = test.scores(params[:1], scale.to_cycles)
            curves.setdefault(f"{name}_curve", []).append(s["rmse"][0])
            curves.setdefault(f"{name}_late_life_curve", []).append(s["late_life_rmse"][0])

    trained = train_stages(data, family, cfg, tick, seconds, after_round, federation=runner)
    target, partition = trained.target, trained.partition
    central, federated, local = trained.centralized, trained.federated, trained.local

    t = time.perf_counter()
    tick("evaluate", 0, 1)
    params = {
        "centralized": central.params[0].clone(),
        "federated": federated.params[0].clone(),
        "local": local.params.clone(),
    }
    scores = {
        name: test.scores(p if p.dim() == 2 else p[None], target.to_cycles)
        for name, p in params.items()
    }
    seconds["evaluate"] = time.perf_counter() - t
    tick("evaluate", 1, 1)
    calibration = _calibrate(data, family, cfg, params, partition, tick, seconds, trained.on_nodes)

    seconds["total"] = time.perf_counter() - start
    ids = runs.engine_ids
    node_engines = [[ids[e] for e in part] for part in partition]
    metrics = {
        "format": FORMAT,
        "runtime": runner.name if runner is not None else "inprocess",
        "family": cfg.model,
        **{
            measure: {
                "centralized": scores["centralized"][measure][0],
                "federated": scores["federated"][measure][0],
                "local": scores["local"][measure],
            }
            for measure in ("rmse", "late_life_rmse", "capped_rmse")
        },
        "local_summary": {m: _summary(scores["local"][m]) for m in ("rmse", "late_life_rmse")},
        "federated_beats_local_late_life": float(
            np.mean(
                np.asarray(scores["local"]["late_life_rmse"])
                > scores["federated"]["late_life_rmse"][0]
            )
        ),
        **curves,  # federated_curve, federated_late_life_curve, centralized_curve, ...
        "calibration": calibration.to_json(DECISION_OF_RECORD),
        "late_life_rul": LATE_LIFE_RUL,
        "rul_cap_of_capped_rmse": RUL_CAP,
        "trained_on": {
            "centralized": _engines(data, central.fed[0]),
            "federated": _engines(data, federated.fed.any(0)),
            "local": [_engines(data, f) for f in local.fed],
        },
        "trained_row_counts": {
            "centralized": int(central.fed[0].sum()),
            "federated": int(federated.fed.any(0).sum()),
            "local": local.fed.sum(1).tolist(),
        },
        "model": family.describe(),
        "target": asdict(target),
        "data_fingerprint": data_fingerprint(runs),
        "seconds": seconds,
    }
    return FactoryModels(
        config=cfg,
        node_engines=node_engines,
        test_engines=[ids[e] for e in data.test_engines],
        metrics=metrics,
        family=family,
        features=FeatureScaling(data.feature_names, data.feature_mean, data.feature_std),
        target=target,
        params=params,
        calibration=calibration,
    )


def _calibrate(
    data: ProtocolData,
    family: Family,
    cfg: FactoryModelsConfig,
    params: dict[str, Tensor],
    partition: list[IndexArray],
    tick: Progress,
    seconds: dict[str, float],
    on_nodes: FederationResult | None = None,
) -> FactoryCalibration:
    """Every model's margin (`fl_engine.factory_calibration`), on training engines only; the
    federated and local counts are the nodes' own where a runner trained them."""
    spec = cfg.calibration_spec
    if cfg.calibration == "in-sample":
        t = time.perf_counter()
        counts = residual_counts(data, family, family.target_scale(data), params, partition, spec)
        if on_nodes is not None:  # the centralized model's counts stay the parent's (pooled)
            counts = on_nodes.counts(counts.centralized)
        seconds["calibrate"] = time.perf_counter() - t
        return counts.calibration(spec, cfg.calibration)
    total: ResidualCounts | None = None
    for k, held in enumerate(cross_fit_folds(partition)):
        prefix = f"cross-fit {k + 1}/{CROSS_FIT_FOLDS}: "

        def fold_tick(stage: str, done: int, of: int, prefix: str = prefix) -> None:
            tick(prefix + stage, done, of)

        fold_seconds: dict[str, float] = {}
        fold = train_stages(data, family, cfg, fold_tick, fold_seconds, holdout=held)
        blind = {
            "centralized": fold.centralized.params[0],
            "federated": fold.federated.params[0],
            "local": fold.local.params,
        }
        counts = residual_counts(data, family, fold.target, blind, held, spec)
        total = counts if total is None else total + counts
        seconds[f"cross_fit_{k + 1}"] = sum(fold_seconds.values())
    assert total is not None  # CROSS_FIT_FOLDS >= 1
    return total.calibration(spec, cfg.calibration)

"""Validation engines: choosing settings without ever reading the engines that are scored.

A protocol's held-out engines (the game's 80 test engines, the official `test_FD00x` units) are
only ever scored. Settings (rounds, step sizes, the server optimizer) are chosen on *validation*
engines instead: a seeded share of the protocol's training engines (`VALIDATION_FRACTION`), held
out of a selection run, which trains on the rest.

`validation_protocol` builds that selection run's data from the training engines alone: a `Runs`
holding only them (so no held-out row can be read, not even for standardization or the choice
of informative columns), split into fit engines (`train_engines`) and validation engines
(`test_engines`), standardized with the fit engines' statistics, exactly as `prepare_protocol`
treats a real split. Where the training engines come from:

- the game's protocol: `game_training_engines` (the same seeded split as `prepare_protocol`,
  which needs only the number of engines);
- the official split: the `train_FD00x` file (`load_split(..., "train")`; the test file is never
  loaded). FD001 and FD003 only: their benchmark standardizes globally, as here.

Scores (`ValidationSet.scores`): RMSE against the RUL capped at 125 over every cycle, late-life RMSE
(true RUL <= 50; the game's measure) and, mimicking the official test units (cut at a random
cycle, scored at the last observed one), the capped RMSE at `TRUNCATIONS` seeded random
truncation points per validation engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from fl_engine.arrays import FloatArray, IndexArray
from fl_engine.data import Runs, split_engines
from fl_engine.factory_types import FactoryModelsConfig
from fl_engine.features import ProtocolData, prepare_protocol
from fl_engine.local_training import AdamConfig
from fl_engine.metrics import late_life_rmse, rmse
from fl_engine.model_families import Family, TargetScale
from fl_engine.partition import iid
from fl_engine.rounds import OnRound, RoundsResult, train_rounds
from fl_engine.window import RUL_CAP, WINDOW

VALIDATION_FRACTION = 0.2
TRUNCATIONS = 10  # random truncation points per validation engine
MIN_OBSERVED = WINDOW + 1  # the shortest official test unit has 31 cycles


def game_training_engines(n_engines: int, n_test: int, seed: int) -> IndexArray:
    """The game protocol's training engines (`prepare_protocol`'s split; reads no data)."""
    train, _ = split_engines(n_engines, n_test, seed)
    return train


def only_engines(runs: Runs, engines: IndexArray) -> Runs:
    """A `Runs` of the given engines alone, in the given order: every other row is dropped."""
    engines = np.asarray(engines, dtype=np.intp)
    if len(np.unique(engines)) != len(engines) or len(engines) == 0:
        raise ValueError("give at least one engine, each once")
    engine_rows = runs.engine_rows()
    parts = [engine_rows[e] for e in engines]
    rows = np.concatenate(parts)
    return Runs(
        engine_ids=tuple(runs.engine_ids[e] for e in engines),
        run_to_failure=runs.run_to_failure[engines].copy(),
        row_engine=np.repeat(np.arange(len(engines)), [len(p) for p in parts]),
        cycle=runs.cycle[rows].copy(),
        signals=runs.signals[rows].copy(),
        rul=runs.rul[rows].copy(),
    )


def validation_protocol(
    runs: Runs, training_engines: IndexArray, seed: int, fraction: float = VALIDATION_FRACTION
) -> ProtocolData:
    """The selection run's data: the training engines only, `fraction` of them (seeded) held out
    as validation engines (`test_engines`), standardized with the rest (`train_engines`)."""
    pool = only_engines(runs, training_engines)
    n_validation = round(fraction * pool.n_engines)
    if not 0 < n_validation < pool.n_engines:
        raise ValueError(f"fraction {fraction} leaves no validation or no fit engines")
    return prepare_protocol(pool, seed, n_validation)


def truncation_rows(
    data: ProtocolData, seed: int, per_engine: int = TRUNCATIONS
) -> list[IndexArray]:
    """For each validation engine, `per_engine` positions (into its cycles) drawn uniformly from
    the cycles at which an official test unit may end (the 31st to the last), seeded."""
    rng = np.random.default_rng(seed)
    out = []
    for e in data.test_engines:
        n = len(data.engine_rows[e])
        low = min(MIN_OBSERVED, n) - 1
        out.append(np.sort(rng.integers(low, n, size=per_engine)))
    return out


@dataclass(frozen=True)
class ValidationScores:
    capped_rmse: float  # every cycle of every validation engine, RUL capped at 125
    late_life_rmse: float  # cycles with true RUL <= 50 (uncapped, as the game scores)
    truncated_capped_rmse: float  # random truncation points, RUL capped at 125


class ValidationSet:
    """The validation engines of a selection run, ready to score many models."""

    def __init__(self, data: ProtocolData, family: Family, seed: int) -> None:
        engines = [data.engine_rows[e] for e in data.test_engines]
        rows = np.concatenate(engines)
        positions = np.split(np.arange(len(rows)), np.cumsum([len(r) for r in engines])[:-1])
        self.inputs = family.inputs(data.x[torch.as_tensor(rows)], positions)
        self.true = data.runs.rul[rows]
        cuts = truncation_rows(data, seed)
        self.cut = np.concatenate([p[c] for p, c in zip(positions, cuts, strict=True)])
        self.family = family

    def scores(self, params: Tensor, target: TargetScale) -> list[ValidationScores]:
        """Scores of each model in params [k, n_params]."""
        pred = target.to_cycles(self.family.predict(params, self.inputs))  # [k, rows]
        return [self.score(p) for p in pred]

    def score(self, pred: FloatArray) -> ValidationScores:
        """Scores of one model's predictions [validation rows] in cycles."""
        capped = np.minimum(self.true, RUL_CAP)
        return ValidationScores(
            capped_rmse=rmse(pred, capped),
            late_life_rmse=late_life_rmse(pred, self.true),
            truncated_capped_rmse=rmse(pred[self.cut], capped[self.cut]),
        )


def train_one_stage(
    data: ProtocolData,
    family: Family,
    cfg: FactoryModelsConfig,
    stage: Literal["centralized", "federated"],
    on_round: OnRound | None = None,
) -> RoundsResult:
    """One stage of `factory_training.train_stages` alone, with its deal of engines, seeded start,
    minibatches and server rule (a selection run needs no local models): params [1 or n, P]."""
    target = family.target_scale(data)
    partition = iid(
        data.train_engines, data.engine_groups(), cfg.n_nodes, np.random.default_rng(cfg.seed)
    )
    node_rows: list[IndexArray] = [data.rows_of(p) for p in partition]
    adam = AdamConfig(lr=cfg.lr)
    pooled, nodes = family.stages(data, target.encode(data.runs.rul), node_rows, adam, cfg.trainer)
    init = family.initial_params(cfg.seed)
    if stage == "centralized":
        epochs = cfg.centralized_epochs or cfg.rounds * cfg.local_epochs
        generator = torch.Generator().manual_seed(cfg.seed + 1)
        return train_rounds(
            pooled,
            init,
            epochs,
            1,
            cfg.centralized_batch_size,
            generator,
            data.runs.n_rows,
            False,
            on_round,
        )
    generator = torch.Generator().manual_seed(cfg.seed + 2)
    return train_rounds(
        nodes,
        init,
        cfg.rounds,
        cfg.local_epochs,
        cfg.batch_size,
        generator,
        data.runs.n_rows,
        True,
        on_round,
        cfg.server_rule(),
    )

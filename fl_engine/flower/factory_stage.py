"""The game's factory models on a Flower runtime: `FlowerFactoryStage` is a
`fl_engine.factory_federation.FederationRunner`, so `train_factory_models` keeps the pooled model,
the scores and the files, and Flower's nodes train the federated and the local models
(`fl_engine.flower.families`, `family_apps`) and count their residuals.

What comes back becomes exactly what the in-process stages return: the global model after every
round feeds the same `after_round` (the test curves), and which rows each factory's minibatches
drew is replayed here from the same seeded stream (`rounds.train_rounds` with a trainer that
trains nothing), since every node draws exactly those rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from fl_engine.factory_federation import (
    FederationInputs,
    FederationResult,
    unsupported_on_runner,
)
from fl_engine.flower.families import family_config, read_counts
from fl_engine.flower.spec import FlowerOutcome, FlowerSpec
from fl_engine.flower.stage import RuntimeFn
from fl_engine.rounds import RoundsResult, Stage, train_rounds


def factory_spec(inp: FederationInputs, data_dir: Path, out_dir: Path) -> FlowerSpec:
    """The Flower run of `factory_training.train_stages`'s federated and local stages."""
    cfg = inp.cfg
    return FlowerSpec(
        seed=cfg.seed,
        nodes=cfg.n_nodes,
        rounds=cfg.rounds,
        data_dir=data_dir,
        out_dir=out_dir,
        local_epochs=cfg.local_epochs,
        lr=cfg.lr,
        batch_size=cfg.batch_size,
        partition="iid",
        non_participant=None,
        n_test_engines=cfg.n_test_engines,
        aggregation=cfg.server_optimizer,
        family=family_config(inp.family.describe()),
        plan_seed=cfg.seed + 2,  # both stages' stream in `train_stages`
        local_models=True,
        calibration_level=cfg.calibration_level,
        calibration_window=cfg.calibration_window,
    )


@dataclass
class FlowerFactoryStage:
    """A FederationRunner on `runtime` (named `name` in the metrics); keeps the outcomes."""

    runtime: RuntimeFn
    name: str
    data_dir: Path
    out_dir: Path
    outcomes: list[FlowerOutcome] = field(default_factory=list)

    def __call__(self, inp: FederationInputs) -> FederationResult:
        cfg = inp.cfg
        why = unsupported_on_runner(cfg)
        if why:
            raise ValueError(why)
        inp.tick("federated", 0, cfg.rounds)
        spec = factory_spec(inp, self.data_dir, self.out_dir)
        outcome = self.runtime(spec, lambda r, _record: inp.tick("federated", r, cfg.rounds))
        self.outcomes.append(outcome)
        n = cfg.n_nodes
        if outcome.local_params is None or outcome.local_params.shape[0] != n:
            raise ValueError("the Flower run returned no local model for every factory")
        for params in outcome.round_params:
            if inp.after_round is not None:
                inp.after_round("federated", params[None].expand(n, -1))
        federated_counts, local_counts = read_counts(self.out_dir)
        if local_counts is None:
            raise ValueError("the Flower run returned no residual counts for the local models")
        drawn = _drawn_rows(inp)
        inp.tick("local", cfg.rounds, cfg.rounds)
        return FederationResult(
            federated=RoundsResult(outcome.global_params[None].repeat(n, 1), drawn),
            local=RoundsResult(outcome.local_params.clone(), drawn.clone()),
            federated_counts=federated_counts,
            local_counts=local_counts,
        )


def _drawn_rows(inp: FederationInputs) -> torch.Tensor:
    """[factories, protocol rows] bool: the rows each factory's minibatches drew, from the same
    stream the nodes replayed (seed + 2), with a trainer that leaves the weights alone."""
    cfg = inp.cfg
    still = Stage(lambda params, plans: None, inp.nodes.sizes, inp.nodes.row_ids)
    generator = torch.Generator().manual_seed(cfg.seed + 2)
    n_rows = inp.data.runs.n_rows
    result = train_rounds(
        still, inp.init, cfg.rounds, cfg.local_epochs, cfg.batch_size, generator, n_rows, False
    )
    return result.fed

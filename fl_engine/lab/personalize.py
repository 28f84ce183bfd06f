"""Personalization (the "two-step" idea: federate, then fine-tune locally), and its yardsticks.

At the end of a run each factory (each distinct partition: above 80 nodes the others are its
copies) fine-tunes the final global model for `personalize` local epochs on its own rows, with one
fresh Adam across those epochs (one client `fit`). Its *local* model is the factory trained alone
from the same initial weights for the run's rounds and local epochs (a fresh Adam each round, as
`rounds.train_rounds` trains the game's local models). All three are scored on the held-out test
rows of the factory's own kind: the rows of its operating conditions (partition "condition"), of
its fault modes ("fault_mode"), else every test row; personalization is for the data a factory
will see, not for everybody's.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from fl_engine.features import ProtocolData
from fl_engine.held_out import HeldOutSet
from fl_engine.lab.config import LabConfig
from fl_engine.lab.nodes import LabNodes
from fl_engine.local_training import AdamConfig, epoch_plan
from fl_engine.metrics import rmse
from fl_engine.model_families import Family, TargetScale


class LabRun(Protocol):
    """What personalization reads of a `run.LabRun` (a protocol: run.py imports this module)."""

    config: LabConfig
    batch_size: int
    init: Tensor
    family: Family
    target: TargetScale
    test: HeldOutSet
    data: ProtocolData
    condition: NDArray[np.intp] | None
    partition: list[NDArray[np.intp]]

    @property
    def nodes(self) -> LabNodes: ...

    def global_params(self) -> Tensor: ...


def _row_kinds(run: LabRun, rows: NDArray[np.intp]) -> NDArray[Any] | None:
    """What makes rows "of a factory's kind": condition, fault mode (subset), or None (all)."""
    if run.condition is not None:
        return run.condition[rows]
    if run.config.partition == "fault_mode":
        return run.data.engine_groups()[run.data.runs.row_engine[rows]]
    return None


def personalized_scores(run: LabRun) -> list[dict[str, Any]]:
    """[{"node", "federated_rmse", "personalized_rmse", "local_rmse"}] per distinct partition."""
    cfg, nodes = run.config, run.nodes
    every = torch.arange(nodes.n_base)
    sizes = nodes.sizes
    adam = AdamConfig(lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed + 3)
    tuned = run.global_params().unsqueeze(0).repeat(nodes.n_base, 1)
    plans = [epoch_plan(sizes, run.batch_size, gen) for _ in range(cfg.personalize)]
    nodes.train(tuned, every, plans, adam, False)
    local = run.init.unsqueeze(0).repeat(nodes.n_base, 1)
    gen = torch.Generator().manual_seed(cfg.seed + 4)
    for _ in range(cfg.rounds):
        plans = [epoch_plan(sizes, run.batch_size, gen) for _ in range(cfg.local_epochs)]
        nodes.train(local, every, plans, adam, False)
    stacked = torch.cat([run.global_params()[None], tuned, local])  # [1 + 2 n_base, n_params]
    pred = run.target.to_cycles(run.family.predict(stacked, run.test.inputs))
    true = run.test.true
    data = run.data
    test_rows = np.concatenate([data.engine_rows[e] for e in data.test_engines])
    test_kind = _row_kinds(run, test_rows)
    out = []
    for j in range(nodes.n_base):
        if test_kind is None:
            mask = np.ones(len(true), dtype=bool)
        else:
            own = _row_kinds(run, run.partition[j])
            assert own is not None
            mask = np.isin(test_kind, np.unique(own))
        if not mask.any():
            mask = np.ones(len(true), dtype=bool)
        out.append(
            {
                "node": j,
                "federated_rmse": rmse(pred[0][mask], true[mask]),
                "personalized_rmse": rmse(pred[1 + j][mask], true[mask]),
                "local_rmse": rmse(pred[1 + nodes.n_base + j][mask], true[mask]),
                "test_rows": int(mask.sum()),
            }
        )
    return out

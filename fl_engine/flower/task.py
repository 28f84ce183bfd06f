"""What one Flower node needs, rebuilt from the run settings and its partition id, never pickled:
its rows of the protocol's standardized training data, and the in-process engine's minibatch
order for it in each round.

Data. Every node loads the data directory and runs the project's own protocol preparation
(`prepare_protocol`: engine split and standardization statistics over all training engines, then
the seeded partition rule), then keeps only its own rows as a one-node `NodeData`. In the
simulation every node can read the files; in a deployment each site would need the same files or
the statistics passed in (see ../shared/notes/flower-1.41.md).

Minibatch order. The in-process `Federation` draws, each round and local epoch,
`epoch_plan(sizes[trainers], batch, generator)` for all trainers at once from one
`torch.Generator` seeded `seed`, trainers in index order. The partition is deterministic, so every
node knows all nodes' sizes and can replay that stream up to round r and take its own row.
The trainers of each round (sampled nodes and the non-participant; failed nodes left out) come
from the same seeded rule on every node and the server (`fl_engine.flower.participation`), so a
node replays `epoch_plan(sizes[trainers])` and takes its row among that round's trainers.

Both are cached per process (`functools.cache` keyed by the settings): a Ray actor or a node
process that handles many messages loads the data once, and round r costs one round's draws
when messages arrive in round order (an earlier round restarts the stream from the seed).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from fl_engine.arrays import IndexArray
from fl_engine.data import load_runs, resolve_data_dir
from fl_engine.features import ProtocolData, prepare_protocol
from fl_engine.flower.participation import round_plans
from fl_engine.flower.settings import RunSettings
from fl_engine.local_training import TRAINERS, AdamConfig, NodeData, epoch_plan, node_losses
from fl_engine.model import MLPConfig, init_params
from fl_engine.partition import PARTITIONS


@dataclass(frozen=True)
class Federation:
    """The protocol data and every node's training rows (indices into `data`)."""

    data: ProtocolData
    node_rows: list[IndexArray]
    mlp: MLPConfig

    @property
    def sizes(self) -> Tensor:
        return torch.tensor([len(r) for r in self.node_rows], dtype=torch.long)


@functools.cache
def load_federation(settings: RunSettings) -> Federation:
    """The protocol preparation and partition exactly as `fl_engine.experiment.run_experiment`."""
    runs = load_runs(resolve_data_dir(Path(settings.data_dir) if settings.data_dir else None))
    data = prepare_protocol(runs, settings.seed, settings.n_test_engines, settings.cycle_input)
    partition = PARTITIONS[settings.partition](
        data.train_engines,
        data.engine_groups(),
        settings.nodes,
        np.random.default_rng(settings.seed),
    )
    mlp = MLPConfig(n_features=data.n_features, hidden=settings.hidden)
    return Federation(data, [data.rows_of(p) for p in partition], mlp)


def initial_params(settings: RunSettings) -> Tensor:
    """The engine's own initialisation: what the server sends in round 1."""
    return init_params(load_federation(settings).mlp, settings.seed)


@functools.cache
def node_data(settings: RunSettings, partition_id: int) -> NodeData:
    """This node's rows only (a one-node NodeData): the node never holds another's rows."""
    fed = load_federation(settings)
    return NodeData.from_rows(fed.data.x, fed.data.y, [fed.node_rows[partition_id]])


class PlanReplay:
    """The in-process Federation's minibatch stream, replayed round by round."""

    def __init__(self, settings: RunSettings) -> None:
        self.settings = settings
        self.sizes = load_federation(settings).sizes
        self._restart()

    def _restart(self) -> None:
        self.generator = torch.Generator(device="cpu").manual_seed(self.settings.seed)
        self.next_round = 0
        self.plans: list[Tensor] = []

    def round_plans(self, round_index: int) -> list[Tensor]:
        """Every node's plans [nodes, steps, batch] of round `round_index` (from 0), one per
        local epoch, as the in-process engine draws them with all nodes training."""
        if round_index < self.next_round - 1:
            self._restart()
        while self.next_round <= round_index:
            s = self.settings
            self.plans = [
                epoch_plan(
                    self.sizes[list(trainers_of(s, self.next_round))], s.batch_size, self.generator
                )
                for _ in range(s.local_epochs)
            ]
            self.next_round += 1
        return self.plans

    def node_plans(self, round_index: int, partition_id: int) -> list[Tensor]:
        """One node's plans [1, steps, batch]: its row of the shared stream (drawn for the
        round's trainers in index order, `fl_engine.flower.participation`)."""
        trainers = trainers_of(self.settings, round_index)
        if partition_id not in trainers:
            raise ValueError(f"node {partition_id} is not a trainer of round {round_index + 1}")
        row = trainers.index(partition_id)
        return [p[row : row + 1] for p in self.round_plans(round_index)]


def trainers_of(settings: RunSettings, round_index: int) -> tuple[int, ...]:
    """The nodes that train in round `round_index` (from 0), as the in-process engine picks them."""
    return round_plans(settings)[round_index].trainers


@functools.cache
def plan_replay(settings: RunSettings) -> PlanReplay:
    return PlanReplay(settings)


@dataclass(frozen=True)
class LocalResult:
    params: Tensor  # [n_params] after local training
    rows: int
    loss_before: float  # own-data MSE (standardized) of the model received, before training
    loss_after: float  # own-data MSE after local training (the engine's `loss_before`)


def _steps(rows: int, batch_size: int) -> int:
    return -(-rows // batch_size)


def with_twin(
    data: NodeData, plans: list[Tensor], others_steps: int
) -> tuple[NodeData, list[Tensor]]:
    """This node plus a numerical twin (a copy of its own rows and plan) trained beside it.

    Why: the vectorized trainer's batched kernels round a lone node (a batch of 1) differently
    from the same node trained among others (measured: 3e-8 apart after one step), and Adam
    amplifies such differences where gradients are near zero (1e-2 apart after 10 rounds). The
    in-process engine trains this node among others while another trainer still has a minibatch
    left (`others_steps`: the most steps of any other trainer) and alone after that, so the twin
    keeps this node company exactly as long: its plan is this node's own, cut after
    `others_steps` steps. Equal sizes keep this node first in the trainer's largest-first order,
    so it always works on the prefix. The twin's result is discarded; it holds only this node's
    rows. Exact for one local epoch; with more, the engine may switch Adam kernels (per-node step
    counts) where this pair does not, a rounding-level difference.
    """
    x = data.x.expand(2, -1, -1).contiguous()
    y = data.y.expand(2, -1).contiguous()
    sizes = data.sizes.expand(2).contiguous()
    twin_plans = []
    for plan in plans:  # [1, steps, batch]
        pair = plan.expand(2, -1, -1).clone()
        pair[1, others_steps:] = -1
        twin_plans.append(pair)
    return NodeData(x, y, sizes), twin_plans


def train_node(
    settings: RunSettings, partition_id: int, round_index: int, start: Tensor
) -> LocalResult:
    """`local_epochs` epochs of the project's vectorized trainer on this node's rows from
    `start`, with a fresh Adam optimizer (as every in-process round does), beside its twin."""
    data = node_data(settings, partition_id)
    fed = load_federation(settings)
    plans = plan_replay(settings).node_plans(round_index, partition_id)
    trainers = trainers_of(settings, round_index)
    others = [int(fed.sizes[i]) for i in trainers if i != partition_id]
    others_steps = max((_steps(n, settings.batch_size) for n in others), default=0)
    one = torch.zeros(1, dtype=torch.long)
    params = start.to(data.x.dtype).reshape(1, -1)
    received = float(node_losses(params, data, one, fed.mlp)[0])
    adam = AdamConfig(lr=settings.lr)
    if others_steps:
        pair, pair_plans = with_twin(data, plans, others_steps)
        both = params.repeat(2, 1)
        TRAINERS["vectorized"](both, pair, torch.arange(2), pair_plans, fed.mlp, adam)
        params = both[:1].clone()
    else:
        params = params.clone()
        TRAINERS["vectorized"](params, data, one, plans, fed.mlp, adam)
    trained = float(node_losses(params, data, one, fed.mlp)[0])
    return LocalResult(params[0], int(data.sizes[0]), received, trained)

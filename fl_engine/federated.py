"""Federated training rounds: node behaviours, client sampling, local training, aggregation.

Every round returns a `RoundReport` saying what each node did and its training loss before and
after averaging (the FF09 report's sawtooth), so callers (CLI, dashboard, lab) can show it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from fl_engine.aggregation import AGGREGATORS
from fl_engine.local_training import TRAINERS, AdamConfig, NodeData, epoch_plan, node_losses
from fl_engine.model import MLPConfig
from fl_engine.nodes import Action, NodeBehaviour


@dataclass(frozen=True)
class FederatedConfig:
    local_epochs: int = 1
    batch_size: int = 32
    sample_fraction: float = 1.0  # share of federating nodes asked to train each round
    aggregator: str = "fedavg"
    trainer: str = "vectorized"  # or "loop", the per-node reference
    node_chunk: int = 1024
    track_losses: bool = True  # per-node losses in the reports (one extra forward pass)
    adam: AdamConfig = field(default_factory=AdamConfig)

    def __post_init__(self) -> None:
        if self.local_epochs < 1 or self.batch_size < 1:
            raise ValueError("local_epochs and batch_size must be at least 1")
        if not 0 < self.sample_fraction <= 1:
            raise ValueError(f"sample_fraction must be in (0, 1], got {self.sample_fraction}")
        if self.aggregator not in AGGREGATORS:
            raise ValueError(
                f"unknown aggregator {self.aggregator!r}; choose from {sorted(AGGREGATORS)}"
            )
        if self.trainer not in TRAINERS:
            raise ValueError(f"unknown trainer {self.trainer!r}; choose from {sorted(TRAINERS)}")


@dataclass(frozen=True)
class NodeReport:
    node: int
    status: str  # "trained" (sent an update), "local", "not_sampled", "offline"
    rows: int
    loss_before: float | None  # own-data MSE (standardized) after local training
    loss_after: float | None  # own-data MSE with the new global model (federating nodes)


@dataclass(frozen=True)
class RoundReport:
    round: int
    n_updates: int
    nodes: list[NodeReport]


class Federation:
    """The state of a simulated federation: the global model, each node's model and optimizer."""

    def __init__(
        self,
        data: NodeData,
        behaviours: Sequence[NodeBehaviour],
        init_params: Tensor,
        cfg: FederatedConfig,
        mlp: MLPConfig,
        seed: int,
    ) -> None:
        if len(behaviours) != data.n_nodes:
            raise ValueError(f"{len(behaviours)} behaviours for {data.n_nodes} nodes")
        self.data, self.behaviours, self.cfg, self.mlp = data, behaviours, cfg, mlp
        device, dtype = data.x.device, data.x.dtype
        self.global_params = init_params.to(device, dtype).clone()  # [n_params]
        self.node_params = self.global_params.repeat(data.n_nodes, 1)  # [nodes, n_params]
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.round = 0

    def _sample(self, federating: list[int]) -> list[int]:
        if self.cfg.sample_fraction >= 1 or not federating:
            return federating
        k = max(1, round(self.cfg.sample_fraction * len(federating)))
        return sorted(self.rng.choice(federating, size=k, replace=False).tolist())

    def run_round(self) -> RoundReport:
        r = self.round
        actions = [b(r) for b in self.behaviours]
        federating = [i for i, a in enumerate(actions) if a == Action.FEDERATE]
        sampled = self._sample(federating)
        local = [i for i, a in enumerate(actions) if a == Action.LOCAL]
        trainers = sorted(sampled + local)
        device = self.data.x.device
        idx = torch.tensor(trainers, dtype=torch.long, device=device)
        sent = torch.tensor(sampled, dtype=torch.long, device=device)

        if trainers:
            self.node_params[sent] = self.global_params
            every = len(trainers) == self.data.n_nodes
            params = self.node_params if every else self.node_params[idx]
            sizes = self.data.sizes[idx]
            plans = [
                epoch_plan(sizes.cpu(), self.cfg.batch_size, self.generator).to(device)
                for _ in range(self.cfg.local_epochs)
            ]
            train = TRAINERS[self.cfg.trainer]
            kwargs = {"node_chunk": self.cfg.node_chunk} if self.cfg.trainer == "vectorized" else {}
            train(params, self.data, idx, plans, self.mlp, self.cfg.adam, **kwargs)
            if not every:
                self.node_params[idx] = params

        # Own-data losses: after local training, and with the model each node ends the round with
        # (the new global model for senders; its own for a non-participant).
        before: dict[int, float] = {}
        after: dict[int, float] = {}
        if self.cfg.track_losses and trainers:
            before = dict(
                zip(
                    trainers,
                    node_losses(self.node_params[idx], self.data, idx, self.mlp).tolist(),
                    strict=False,
                )
            )
            after = {i: before[i] for i in local}
        if sampled:
            weights = self.data.sizes[sent].to(self.node_params.dtype)
            self.global_params = AGGREGATORS[self.cfg.aggregator](self.node_params[sent], weights)
            if self.cfg.track_losses:
                glob = self.global_params.expand(len(sampled), -1)
                after.update(
                    zip(
                        sampled, node_losses(glob, self.data, sent, self.mlp).tolist(), strict=False
                    )
                )

        reports = []
        sampled_set, row_counts = set(sampled), self.data.sizes.tolist()
        for i, a in enumerate(actions):
            if a == Action.OFFLINE:
                status = "offline"
            elif a == Action.LOCAL:
                status = "local"
            else:
                status = "trained" if i in sampled_set else "not_sampled"
            reports.append(
                NodeReport(
                    node=i,
                    status=status,
                    rows=row_counts[i],
                    loss_before=before.get(i),
                    loss_after=after.get(i),
                )
            )
        self.round += 1
        return RoundReport(round=r, n_updates=len(sampled), nodes=reports)

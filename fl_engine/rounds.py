"""Rounds of local training, with or without Federated Averaging, for any trainer.

The three models a factory compares come from this one loop, so they differ only where they
should: *federated* = every round, every node starts from the global model, trains
`local_epochs` epochs on its own rows, and the server averages the updates weighted by rows
(FedAvg, McMahan et al. 2017); *local* = the same rounds and local epochs, but each node keeps its
own model (nothing is averaged); *centralized* = one node that holds every training row. Every
round each node starts a fresh Adam optimizer, as a federated client does per `fit`.

The federated server may do more than average: given a `server` rule (`fl_engine.aggregation`,
e.g. FedAvgM or FedAdam), the new global model is that rule applied to the round's start and the
nodes' trained models (a server optimizer stepping along the averaged delta). Without one it is
plain FedAvg.

The loop also records which rows each node's minibatches actually drew, from the plans it hands
the trainer, so tests can check that a factory's model never saw another factory's rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from fl_engine.aggregation import Aggregator, fedavg
from fl_engine.local_training import epoch_plan

# (params [n, n_params] updated in place, one plan [n, steps, batch] per local epoch)
RoundTrainer = Callable[[Tensor, list[Tensor]], None]
OnRound = Callable[[int, Tensor], None]  # (rounds done, params after the round [n, n_params])


@dataclass(frozen=True)
class Stage:
    """A set of nodes ready to train: the trainer bound to their data."""

    train: RoundTrainer
    sizes: Tensor  # [n] rows per node
    row_ids: Tensor  # [n, max_rows] the protocol row of each of a node's rows, -1 = padding


@dataclass(frozen=True)
class RoundsResult:
    params: Tensor  # [n, n_params]; federated: every row is the global model
    fed: Tensor  # [n, n_protocol_rows] bool: rows the node's minibatches drew


def train_rounds(
    stage: Stage,
    init: Tensor,
    rounds: int,
    local_epochs: int,
    batch_size: int,
    generator: torch.Generator,
    n_protocol_rows: int,
    average: bool,
    on_round: OnRound | None = None,
    server: Aggregator | None = None,
) -> RoundsResult:
    """`rounds` rounds of `local_epochs` epochs from `init` [n_params]; FedAvg when `average`, or
    the `server` rule (fresh state expected: it is stepped once per round) when one is given."""
    if server is not None and not average:
        raise ValueError("a server rule needs average=True: local models are never aggregated")
    n = len(stage.sizes)
    params = init.unsqueeze(0).repeat(n, 1)  # [n, n_params]
    fed = torch.zeros(n, n_protocol_rows, dtype=torch.bool)
    weights = stage.sizes.to(params.dtype)
    for r in range(rounds):
        plans = [epoch_plan(stage.sizes, batch_size, generator) for _ in range(local_epochs)]
        for plan in plans:
            _record(fed, stage.row_ids, plan)
        if server is None:
            stage.train(params, plans)
            if average:
                params[:] = fedavg(params, weights)
        else:
            start = params[0].clone()  # the global model every node started the round from
            stage.train(params, plans)
            params[:] = server(start, params, weights).params
        if on_round is not None:
            on_round(r + 1, params)
    return RoundsResult(params, fed)


def _record(fed: Tensor, row_ids: Tensor, plan: Tensor) -> None:
    """Mark the protocol rows that `plan` [n, steps, batch] draws for each node."""
    flat = plan.flatten(1)  # [n, steps * batch]
    ids = row_ids.gather(1, flat.clamp(min=0))  # [n, steps * batch]
    drawn = flat >= 0
    node = torch.arange(len(flat)).unsqueeze(1).expand_as(flat)
    if bool((ids[drawn] < 0).any()):
        raise ValueError("a plan draws a padding row")
    fed[node[drawn], ids[drawn]] = True

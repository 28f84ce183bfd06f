"""FedAvgM: Federated Averaging with server momentum.

Hsu, Qi, Brown, "Measuring the Effects of Non-Identical Data Distribution for Federated Visual
Classification", arXiv:1909.06335, 2019: the server treats g - avg (the global model minus the
clients' weighted average) as a pseudo-gradient and runs SGD with momentum on it,
    v <- momentum * v + (g - avg);   g <- g - server_lr * v.
With momentum 0 and server_lr 1 this is FedAvg. The velocity v is the state kept across rounds.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fl_engine.aggregation.base import Aggregate, screen, unchanged
from fl_engine.aggregation.fedavg import fedavg


def momentum_step(
    global_params: Tensor, average: Tensor, velocity: Tensor, server_lr: float, momentum: float
) -> tuple[Tensor, Tensor]:
    """[n_params] each -> (new global model [n_params], new velocity [n_params])."""
    velocity = momentum * velocity + (global_params - average)  # [n_params]
    return global_params - server_lr * velocity, velocity


class FedAvgM:
    """Server momentum on FedAvg's pseudo-gradient; a round with no finite client changes nothing."""

    name = "fedavgm"

    def __init__(self, server_lr: float = 1.0, momentum: float = 0.9) -> None:
        self.server_lr = server_lr
        self.momentum = momentum
        self.velocity: Tensor | None = None  # [n_params], zero before the first round

    def __call__(self, global_params: Tensor, models: Tensor, weights: Tensor) -> Aggregate:
        kept, rejected = screen(global_params, models, weights)
        if kept.numel() == 0:
            return unchanged(global_params, rejected)
        average = fedavg(models[kept], weights[kept])  # [n_params]
        if self.velocity is None:
            self.velocity = torch.zeros_like(average)
        elif self.velocity.shape != average.shape:
            raise ValueError(
                f"fedavgm keeps a velocity of {self.velocity.shape[0]} params, got {average.shape[0]}"
            )
        params, self.velocity = momentum_step(
            global_params.to(average.dtype), average, self.velocity, self.server_lr, self.momentum
        )
        return Aggregate(params, rejected)

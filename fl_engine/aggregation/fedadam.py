"""FedAdam: Adam on the server.

Reddi, Charles, Zaheer, Garrett, Rush, Konečný, Kumar, McMahan, "Adaptive Federated
Optimization", ICLR 2021, Algorithm 2: with the pseudo-gradient delta = avg - g (the clients'
weighted average minus the global model),
    m <- beta1 m + (1 - beta1) delta;   v <- beta2 v + (1 - beta2) delta^2;
    g <- g + server_lr * m / (sqrt(v) + tau),
with m starting at 0 and v at tau^2, and no bias correction, as in the paper. beta1 = 0.9,
beta2 = 0.99; tau (the adaptivity, 1e-3) keeps the step finite where v is tiny. m and v are the
state kept across rounds. Early steps move each coordinate by about server_lr whatever the size of
delta, so the paper tunes server_lr well below 1 (1e-2 .. 1e-1 is typical).
"""

from __future__ import annotations

import torch
from torch import Tensor

from fl_engine.aggregation.base import Aggregate, screen, unchanged
from fl_engine.aggregation.fedavg import fedavg


def adam_step(
    global_params: Tensor,
    average: Tensor,
    m: Tensor,
    v: Tensor,
    server_lr: float,
    beta1: float,
    beta2: float,
    tau: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """[n_params] each -> (new global model, new m, new v), all [n_params]."""
    delta = average - global_params  # [n_params]
    m = beta1 * m + (1 - beta1) * delta
    v = beta2 * v + (1 - beta2) * delta.square()
    return global_params + server_lr * m / (v.sqrt() + tau), m, v


class FedAdam:
    """Server Adam on FedAvg's pseudo-gradient; a round with no finite client changes nothing."""

    name = "fedadam"

    def __init__(
        self, server_lr: float = 1.0, beta1: float = 0.9, beta2: float = 0.99, tau: float = 1e-3
    ) -> None:
        self.server_lr = server_lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.tau = tau
        self.m: Tensor | None = None  # [n_params] first moment
        self.v: Tensor | None = None  # [n_params] second moment

    def __call__(self, global_params: Tensor, models: Tensor, weights: Tensor) -> Aggregate:
        kept, rejected = screen(global_params, models, weights)
        if kept.numel() == 0:
            return unchanged(global_params, rejected)
        average = fedavg(models[kept], weights[kept])  # [n_params]
        if self.m is None or self.v is None:
            self.m = torch.zeros_like(average)
            self.v = torch.full_like(average, self.tau**2)
        elif self.m.shape != average.shape:
            raise ValueError(
                f"fedadam keeps moments of {self.m.shape[0]} params, got {average.shape[0]}"
            )
        params, self.m, self.v = adam_step(
            global_params.to(average.dtype),
            average,
            self.m,
            self.v,
            self.server_lr,
            self.beta1,
            self.beta2,
            self.tau,
        )
        return Aggregate(params, rejected)

"""Federated Averaging (also the server side of FedProx).

McMahan, Moore, Ramage, Hampson, Agüera y Arcas, "Communication-Efficient Learning of Deep Networks
from Decentralized Data", AISTATS 2017: the server's new model is the mean of the clients' models,
each weighted by its number of training examples, so every example counts equally.

Li, Sahu, Zaheer, Sanjabi, Talwalkar, Smith, "Federated Optimization in Heterogeneous Networks",
MLSys 2020 (FedProx): the proximal term mu/2 ||w - w_global||^2 lives in local training
(`AdamConfig.prox_mu`); the server averages exactly like FedAvg, so "fedprox" is this rule.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fl_engine.aggregation.base import Aggregate, screen, unchanged


def fedavg(updates: Tensor, weights: Tensor) -> Tensor:
    """updates [clients, n_params], weights [clients] (row counts) -> [n_params]."""
    if updates.shape[0] == 0:
        raise ValueError("fedavg needs at least one client update")
    w = weights.to(updates.dtype)
    if torch.any(w < 0) or float(w.sum()) <= 0:
        raise ValueError("fedavg weights must be non-negative with a positive sum")
    return (w / w.sum()) @ updates


class FedAvg:
    """The weighted mean of the finite client models; `name` is "fedavg" or "fedprox"."""

    def __init__(self, name: str = "fedavg") -> None:
        self.name = name

    def __call__(self, global_params: Tensor, models: Tensor, weights: Tensor) -> Aggregate:
        kept, rejected = screen(global_params, models, weights)
        if kept.numel() == 0:
            return unchanged(global_params, rejected)
        return Aggregate(fedavg(models[kept], weights[kept]), rejected)

"""What every server rule shares: the `Aggregate` it returns, the `Aggregator` protocol, and the
first step of every rule, leaving out the clients whose model is not finite.

A NaN or infinite value in one client's model would spread to every coordinate it touches (the
mean, the momentum, Krum's distances), so no rule lets such a model in: it is listed in
`rejected`, and with no client left the global model stays as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor


@dataclass(frozen=True)
class Aggregate:
    params: Tensor  # [n_params] the new global model
    rejected: list[int]  # indices (into this round's clients) the rule left out, ascending


class Aggregator(Protocol):
    """A server rule; it may keep state across rounds (momentum)."""

    name: str

    def __call__(self, global_params: Tensor, models: Tensor, weights: Tensor) -> Aggregate:
        """global_params [n_params], models [k, n_params] the clients' trained models, weights [k]
        their row counts -> the new global model and the clients left out."""
        ...


def check_round(global_params: Tensor, models: Tensor, weights: Tensor) -> None:
    """Shapes: global_params [n_params], models [k, n_params], weights [k]."""
    if global_params.dim() != 1:
        raise ValueError(f"global_params must be [n_params], got {tuple(global_params.shape)}")
    if models.dim() != 2 or models.shape[1] != global_params.shape[0]:
        raise ValueError(f"models must be [k, {global_params.shape[0]}], got {tuple(models.shape)}")
    if weights.shape != (models.shape[0],):
        raise ValueError(f"weights must be [{models.shape[0]}], got {tuple(weights.shape)}")


def screen(global_params: Tensor, models: Tensor, weights: Tensor) -> tuple[Tensor, list[int]]:
    """Check the shapes and split the clients: (indices of the finite models [kept], the others)."""
    check_round(global_params, models, weights)
    finite = torch.isfinite(models).all(dim=1)  # [k]
    kept = finite.nonzero().flatten()  # [kept]
    rejected = (~finite).nonzero().flatten().tolist()
    return kept, rejected


def unchanged(global_params: Tensor, rejected: list[int]) -> Aggregate:
    """No client left: the global model as it was (a copy, so callers may write into it)."""
    return Aggregate(global_params.clone(), rejected)

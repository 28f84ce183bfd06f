"""Federated Averaging.

McMahan, Moore, Ramage, Hampson, Agüera y Arcas, "Communication-Efficient Learning of Deep Networks
from Decentralized Data", AISTATS 2017: the server's new model is the mean of the clients' models,
each weighted by its number of training examples, so every example counts equally.
"""

from __future__ import annotations

import torch
from torch import Tensor


def fedavg(updates: Tensor, weights: Tensor) -> Tensor:
    """updates [clients, n_params], weights [clients] (row counts) -> [n_params]."""
    if updates.shape[0] == 0:
        raise ValueError("fedavg needs at least one client update")
    w = weights.to(updates.dtype)
    if torch.any(w < 0) or float(w.sum()) <= 0:
        raise ValueError("fedavg weights must be non-negative with a positive sum")
    return (w / w.sum()) @ updates

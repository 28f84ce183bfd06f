"""Krum and Multi-Krum.

Blanchard, El Mhamdi, Guerraoui, Stainer, "Machine Learning with Adversaries: Byzantine Tolerant
Gradient Descent", NeurIPS 2017: with k clients of which at most f are Byzantine, client i's
score is the sum of its squared distances to its k - f - 2 nearest other clients. Krum takes the
client with the lowest score as the new model; Multi-Krum averages the m lowest-scoring clients
(unweighted, as in the paper; m = k is plain averaging). The clients not selected are `rejected`.

The guarantee needs k > 2f + 2. With fewer clients (or f = None, "as many as possible") Krum
assumes the largest f it can tolerate, (k - 3) // 2, so it still picks the most central clients;
with one or two clients every score is equal and the first client(s) are taken. m is capped at k.
Ties go to the lower index.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fl_engine.aggregation.base import Aggregate, screen, unchanged


def krum_scores(models: Tensor, byzantine: int | None) -> Tensor:
    """models [k, n_params], k >= 1 -> scores [k] (sum of squared distances to the nearest)."""
    k = models.shape[0]
    if k == 1:
        return models.new_zeros(1)
    most = max(0, (k - 3) // 2)  # the largest f with k > 2f + 2
    f = most if byzantine is None else min(byzantine, most)
    nearest = max(1, k - f - 2)
    # Distances from a robust centre: the coordinate-wise median keeps float32 cancellation small
    # even when one client is 1e12 away.
    centred = models - models.median(dim=0).values  # [k, n_params]
    sq = centred.square().sum(dim=1)  # [k]
    dist = (sq[:, None] + sq[None, :] - 2 * centred @ centred.T).clamp_min(0)  # [k, k]
    dist.fill_diagonal_(float("inf"))
    return dist.topk(nearest, dim=1, largest=False).values.sum(dim=1)  # [k]


def krum_select(models: Tensor, byzantine: int | None, multi: int = 1) -> Tensor:
    """models [k, n_params], k >= 1 -> indices [min(multi, k)] of the lowest scores, best first."""
    scores = krum_scores(models, byzantine)  # [k]
    order = torch.argsort(scores, stable=True)  # [k]
    return order[: min(multi, models.shape[0])]


class Krum:
    """Krum (multi_krum None or 1) or Multi-Krum (average the multi_krum best clients)."""

    name = "krum"

    def __init__(self, byzantine: int | None = None, multi_krum: int | None = None) -> None:
        self.byzantine = byzantine
        self.multi = 1 if multi_krum is None else multi_krum

    def __call__(self, global_params: Tensor, models: Tensor, weights: Tensor) -> Aggregate:
        kept, rejected = screen(global_params, models, weights)
        if kept.numel() == 0:
            return unchanged(global_params, rejected)
        chosen = krum_select(models[kept], self.byzantine, self.multi)  # into kept
        selected = kept[chosen]  # [m] into this round's clients
        left_out = set(range(models.shape[0])) - set(selected.tolist())
        return Aggregate(models[selected].mean(dim=0), sorted(left_out))

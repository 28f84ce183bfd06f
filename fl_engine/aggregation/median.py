"""Coordinate-wise median.

Yin, Chen, Kannan, Bartlett, "Byzantine-Robust Distributed Learning: Towards Optimal Statistical
Rates", ICML 2018: each coordinate of the new model is the median of the clients' values for that
coordinate (the mean of the two middle values for an even count). Unweighted: a weight would let
one client claim many rows and move the median. As long as fewer than half the clients are
Byzantine, every coordinate stays within the honest clients' range, however large the others'.
Coordinates are judged separately, so no client is left out as a whole (`rejected` lists only
non-finite models).
"""

from __future__ import annotations

from torch import Tensor

from fl_engine.aggregation.base import Aggregate, screen, unchanged


def coordinate_median(models: Tensor) -> Tensor:
    """models [k, n_params], k >= 1 -> [n_params]."""
    k = models.shape[0]
    ordered = models.sort(dim=0).values  # [k, n_params]
    if k % 2:
        return ordered[k // 2].clone()
    return (ordered[k // 2 - 1] + ordered[k // 2]) / 2


class Median:
    name = "median"

    def __call__(self, global_params: Tensor, models: Tensor, weights: Tensor) -> Aggregate:
        kept, rejected = screen(global_params, models, weights)
        if kept.numel() == 0:
            return unchanged(global_params, rejected)
        return Aggregate(coordinate_median(models[kept]), rejected)

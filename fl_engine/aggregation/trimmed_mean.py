"""Coordinate-wise trimmed mean.

Yin, Chen, Kannan, Bartlett, "Byzantine-Robust Distributed Learning: Towards Optimal Statistical
Rates", ICML 2018: for each coordinate, drop the floor(beta * k) largest and the floor(beta * k)
smallest of the k clients' values and average the rest (unweighted). With beta in [0, 0.5) at
least one value remains; with at most floor(beta * k) Byzantine clients every coordinate stays
within the honest clients' range. Coordinates are trimmed separately, so no client is left out as
a whole (`rejected` lists only non-finite models).
"""

from __future__ import annotations

import math

from torch import Tensor

from fl_engine.aggregation.base import Aggregate, screen, unchanged


def trimmed_mean(models: Tensor, trim_fraction: float) -> Tensor:
    """models [k, n_params], k >= 1, trim_fraction (beta) in [0, 0.5) -> [n_params]."""
    if not 0 <= trim_fraction < 0.5:
        raise ValueError(f"trim_fraction must be in [0, 0.5), got {trim_fraction}")
    k = models.shape[0]
    b = math.floor(trim_fraction * k + 1e-9)  # the 1e-9: 0.29 * 100 is 28.999...
    ordered = models.sort(dim=0).values  # [k, n_params]
    return ordered[b : k - b].mean(dim=0)


class TrimmedMean:
    name = "trimmed_mean"

    def __init__(self, trim_fraction: float = 0.1) -> None:
        self.trim_fraction = trim_fraction

    def __call__(self, global_params: Tensor, models: Tensor, weights: Tensor) -> Aggregate:
        kept, rejected = screen(global_params, models, weights)
        if kept.numel() == 0:
            return unchanged(global_params, rejected)
        return Aggregate(trimmed_mean(models[kept], self.trim_fraction), rejected)

"""Adaptive clipping from a privately estimated quantile of the update norms.

Andrew, Thakkar, McMahan, Ramaswamy, "Differentially Private Learning with Adaptive Clipping",
NeurIPS 2021. A fixed clip C is hard to choose: too small biases the mean, too large wastes noise
(the noise std is z * C). The server instead tracks the gamma-quantile of the client update norms:
each round every client reports b_i = 1[||Delta_i|| <= C]; the server releases a noised count of
them and moves C geometrically,

    b_bar = (sum_i (b_i - 1/2) + N(0, sigma_b^2)) / m + 1/2,    C <- C * exp(-eta * (b_bar - gamma)),

with m the expected number of clients. Centering the bits at 1/2 (as the paper and TF Privacy's
QuantileEstimatorQuery do) halves their sensitivity to 1/2 under adding/removing one client, which
is why the privacy split in `effective_noise_multiplier` has (2 sigma_b)^-2.

Privacy: the count release costs privacy too. Noise the updates with
z_delta = effective_noise_multiplier(z, sigma_b) and give the *target* z (not z_delta) to
`PrivacyAccountant`: the two releases together cost exactly one Gaussian mechanism with multiplier
z (Andrew et al., section 3.1).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from fl_engine.privacy.clipping import check_clip
from fl_engine.privacy.gaussian import check_noise_multiplier, gaussian_noise


def effective_noise_multiplier(noise_multiplier: float, count_noise_multiplier: float) -> float:
    """The multiplier z_delta = (z^-2 - (2 sigma_b)^-2)^(-1/2) to noise the updates with, so that
    updates and the clipped-count release together cost the same as one Gaussian release with
    multiplier z = `noise_multiplier` (which is what the accountant must be given).

    z == 0 (no privacy) returns 0.0. ValueError when 2 * sigma_b <= z: the count noise alone would
    already use the whole budget, leaving none for the updates (the paper suggests
    sigma_b = m / 20 for m expected clients).
    """
    check_noise_multiplier(noise_multiplier)
    check_noise_multiplier(count_noise_multiplier, "count_noise_multiplier")
    if noise_multiplier == 0:
        return 0.0
    if 2 * count_noise_multiplier <= noise_multiplier:
        raise ValueError(
            f"count_noise_multiplier={count_noise_multiplier} is too small for "
            f"noise_multiplier={noise_multiplier}: need 2 * count_noise_multiplier > "
            f"noise_multiplier, else the clipped-count release alone spends the whole budget"
        )
    inv_sq = noise_multiplier**-2 - (2 * count_noise_multiplier) ** -2
    return float(inv_sq**-0.5)


class AdaptiveClip:
    """The clip C, moved each round toward the `target_quantile` of the client update norms.

    `count_noise_multiplier` is sigma_b, the std of the Gaussian noise added to the (centered)
    count of clients whose norm is <= C, in units of clients. The default 1.0 suits a federation
    of about 20 expected clients by the paper's sigma_b = m / 20 rule; 0 makes the estimate exact
    (not private: for tests and non-DP runs only).
    """

    def __init__(
        self,
        initial_clip: float = 1.0,
        target_quantile: float = 0.5,
        learning_rate: float = 0.2,
        count_noise_multiplier: float = 1.0,
    ) -> None:
        check_clip(initial_clip)
        if not (math.isfinite(target_quantile) and 0 <= target_quantile <= 1):
            raise ValueError(f"target_quantile must be in [0, 1], got {target_quantile!r}")
        if not (math.isfinite(learning_rate) and learning_rate > 0):
            raise ValueError(f"learning_rate must be finite and > 0, got {learning_rate!r}")
        check_noise_multiplier(count_noise_multiplier, "count_noise_multiplier")
        self.clip: float = float(initial_clip)
        self.target_quantile = float(target_quantile)
        self.learning_rate = float(learning_rate)
        self.count_noise_multiplier = float(count_noise_multiplier)

    def below_fraction(
        self, norms: Tensor, expected_clients: float, generator: torch.Generator
    ) -> float:
        """The private estimate b_bar of the fraction of norms [k] that are <= the current clip.

        Divides by the fixed `expected_clients` (not k, which is private under Poisson sampling);
        with count noise 0 and k == expected_clients it is the exact fraction. Draws one normal
        from `generator` only when count noise is on.
        """
        if not (math.isfinite(expected_clients) and expected_clients > 0):
            raise ValueError(f"expected_clients must be finite and > 0, got {expected_clients!r}")
        if norms.dim() != 1:
            raise ValueError(f"norms must be 1-D [k], got shape {tuple(norms.shape)}")
        centered = (norms <= self.clip).to(torch.float64) - 0.5  # [k], values in {-1/2, +1/2}
        count = float(centered.sum())
        if self.count_noise_multiplier > 0:
            count += float(gaussian_noise(1, self.count_noise_multiplier, generator)[0])
        return count / expected_clients + 0.5

    def update(self, norms: Tensor, expected_clients: float, generator: torch.Generator) -> float:
        """One geometric step C <- C * exp(-eta * (b_bar - gamma)) from this round's norms [k];
        returns (and stores) the new clip. Too many norms under C (b_bar > gamma) shrinks C."""
        b_bar = self.below_fraction(norms, expected_clients, generator)
        self.clip = self.clip * math.exp(-self.learning_rate * (b_bar - self.target_quantile))
        return self.clip

"""DP-FedAvg's server step: clip, sum, noise, divide by a fixed denominator.

McMahan, Ramage, Talwar, Zhang, "Learning Differentially Private Recurrent Language Models",
ICLR 2018: the mean update is (sum_i clip_C(Delta_i) + N(0, (z C)^2 I)) / m, where m is the
*expected* number of clients (q * N under Poisson sampling). Dividing by the actual count k would
leak k (private under Poisson sampling) and make the sensitivity depend on it; the fixed m keeps the
sensitivity of the mean at C / m.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from fl_engine.privacy.clipping import check_clip, clip_updates
from fl_engine.privacy.gaussian import check_noise_multiplier, noisy_sum


def _check_expected_clients(expected_clients: float) -> None:
    if not (math.isfinite(expected_clients) and expected_clients > 0):
        raise ValueError(f"expected_clients must be finite and > 0, got {expected_clients!r}")


def dp_mean_update(
    updates: Tensor,
    clip: float,
    noise_multiplier: float,
    expected_clients: float,
    generator: torch.Generator,
) -> tuple[Tensor, Tensor]:
    """updates [k, n] -> (noised mean update [n], pre-clip norms [k]).

    mean = noisy_sum(clip_updates(updates, C), z, C) / expected_clients. With k == 0 (nobody
    sampled) the result is the noise alone / expected_clients: DP requires that an empty round look
    like any other, so it is released and accounted as usual. The norms are for `AdaptiveClip`
    only; they must not be published.
    """
    check_clip(clip)
    check_noise_multiplier(noise_multiplier)
    _check_expected_clients(expected_clients)
    clipped, norms = clip_updates(updates, clip)  # [k, n], [k]
    total = noisy_sum(clipped, noise_multiplier, clip, generator)  # [n]
    return total / expected_clients, norms


def distributed_noise_std(noise_multiplier: float, clip: float, expected_clients: float) -> float:
    """Per-client noise std z * C / sqrt(m) for noise added by the clients themselves.

    Under secure aggregation the server only sees the sum, so no single party should add all the
    noise (it would see the unnoised sum). If each of the m expected clients adds
    N(0, (z C)^2 / m), the sum carries N(0, (z C)^2), as in central DP-FedAvg. Dropouts (or a
    Poisson cohort smaller than m) lower the total noise to (z C)^2 * k / m, so the accountant's
    guarantee holds only when k >= m; scale up (e.g. use the minimum cohort size for m) to be safe.
    """
    check_noise_multiplier(noise_multiplier)
    check_clip(clip)
    _check_expected_clients(expected_clients)
    return noise_multiplier * clip / math.sqrt(expected_clients)

"""The Gaussian mechanism on a sum of clipped updates.

DP-FedAvg (McMahan et al., ICLR 2018) releases sum_i clip(Delta_i) + N(0, (z * C)^2 I), where z is
the noise multiplier and C the clip (the L2 sensitivity of the sum under adding or removing one
client). The privacy cost of that release is accounted in `accountant.PrivacyAccountant`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from fl_engine.privacy.clipping import check_clip


def check_noise_multiplier(noise_multiplier: float, name: str = "noise_multiplier") -> None:
    """ValueError unless the multiplier is finite and >= 0 (0 means no noise: no privacy)."""
    if not (
        isinstance(noise_multiplier, int | float)
        and math.isfinite(noise_multiplier)
        and noise_multiplier >= 0
    ):
        raise ValueError(f"{name} must be finite and >= 0, got {noise_multiplier!r}")


def gaussian_noise(n: int, std: float, generator: torch.Generator) -> Tensor:
    """N(0, std^2) noise [n] in float64, drawn on the generator's device.

    float64 because the noise std (z * C) can dwarf a float32 sum's precision; callers cast back.
    """
    return torch.randn(n, generator=generator, dtype=torch.float64, device=generator.device) * std


def noisy_sum(
    clipped: Tensor, noise_multiplier: float, clip: float, generator: torch.Generator
) -> Tensor:
    """sum over rows of `clipped` [k, n] plus N(0, (noise_multiplier * clip)^2) per coordinate.

    Returns [n] in clipped.dtype. With noise_multiplier == 0 the exact sum is returned and no random
    number is drawn (the generator's state is untouched), so a non-private run stays reproducible.
    The caller is responsible for `clipped` really being clipped to `clip`; this function only
    scales the noise to it.
    """
    check_noise_multiplier(noise_multiplier)
    check_clip(clip)
    if clipped.dim() != 2:
        raise ValueError(f"clipped must be 2-D [k, n], got shape {tuple(clipped.shape)}")
    total = clipped.sum(dim=0)  # [n]
    if noise_multiplier == 0:
        return total
    noise = gaussian_noise(clipped.shape[1], noise_multiplier * clip, generator)  # [n]
    return (total.to(torch.float64) + noise.to(total.device)).to(clipped.dtype)

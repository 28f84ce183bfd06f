"""Per-client L2 clipping: the step that bounds one user's influence on the federated sum.

User-level DP-FedAvg (McMahan, Ramage, Talwar, Zhang, "Learning Differentially Private Recurrent
Language Models", ICLR 2018) clips each client's whole model update to L2 norm at most C before
summing, so that adding or removing one client (one factory, with all its engines) moves the sum by
at most C. That bound is the sensitivity the Gaussian noise in `gaussian.noisy_sum` is scaled to.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def check_clip(clip: float) -> None:
    """ValueError unless `clip` is a finite positive number: C is the sensitivity, so C <= 0 or
    C = inf would make the privacy statement meaningless rather than merely weak."""
    if not (isinstance(clip, int | float) and math.isfinite(clip) and clip > 0):
        raise ValueError(f"clip (the L2 norm bound C) must be finite and > 0, got {clip!r}")


def clip_updates(updates: Tensor, clip: float) -> tuple[Tensor, Tensor]:
    """Scale each row of `updates` [k, n_params] by min(1, C / ||row||_2).

    Returns (clipped [k, n_params] in the input dtype, norms [k] float64: the L2 norms *before*
    clipping). The norms are returned because adaptive clipping (`AdaptiveClip.update`) needs them;
    they are private data and must only leave the server through a noised count.

    Norms are computed in float64 so that a large float32 update cannot overflow to inf (which
    would silently scale it to zero). Rows shorter than C are returned unchanged (factor exactly 1),
    and a zero row stays zero. A non-finite update raises ValueError: clipping cannot bound NaN.
    """
    check_clip(clip)
    if updates.dim() != 2:
        raise ValueError(f"updates must be 2-D [k, n_params], got shape {tuple(updates.shape)}")
    if not bool(torch.isfinite(updates).all()):
        bad = (~torch.isfinite(updates)).any(dim=1).nonzero().flatten().tolist()
        raise ValueError(f"updates must be finite; rows {bad} contain NaN or inf")
    norms = torch.linalg.vector_norm(updates.to(torch.float64), ord=2, dim=1)  # [k]
    # C / 0 = inf, clamped to 1: a zero update is left as it is.
    factors = torch.clamp(clip / norms, max=1.0)  # [k]
    clipped = updates * factors.to(updates.dtype).unsqueeze(1)  # [k, n_params]
    return clipped, norms

"""Attacks: what a malicious node sends instead of its honest model (docs/lab.md, section 1).

Each attack is one formula over all the attackers at once, with g the global model [n_params] and
m the attackers' honestly trained models [a, n_params]:
- sign_flip: g - (m - g), the update reversed (Blanchard et al. 2017's "omniscient" flavour);
- scale: g + scale (m - g), a boosted update (Bhagoji et al. 2019, "Analyzing Federated Learning
  through an Adversarial Lens", explicit boosting);
- noise: m + N(0, noise_std^2), Gaussian noise on every coordinate;
- nan: every value NaN (a broken or hostile client; robust or not, rules must reject it);
- free_ride: g, the global model sent back without training (Lin et al. 2019, "Free-riders in
  Federated Learning");
- label: m unchanged; the poison is in the node's training targets (the lab poisons them).
"""

from __future__ import annotations

import torch
from torch import Tensor

ATTACKS = ("sign_flip", "scale", "noise", "label", "nan", "free_ride")


def attacked(
    kind: str,
    global_params: Tensor,
    models: Tensor,
    *,
    scale: float = 10.0,
    noise_std: float = 1.0,
    generator: torch.Generator,
) -> Tensor:
    """global_params [n_params], models [a, n_params] -> the models sent [a, n_params] (a new
    tensor, never a view of the inputs). Only "noise" draws from `generator`."""
    if kind not in ATTACKS:
        raise ValueError(f"unknown attack {kind!r}; choose from {', '.join(ATTACKS)}")
    if global_params.dim() != 1 or models.dim() != 2 or models.shape[1] != global_params.shape[0]:
        raise ValueError(
            f"models must be [a, {global_params.shape[0]}] for global_params "
            f"{tuple(global_params.shape)}, got {tuple(models.shape)}"
        )
    g = global_params.to(models.dtype)[None, :]  # [1, n_params]
    if kind == "sign_flip":
        return g - (models - g)
    if kind == "scale":
        return g + scale * (models - g)
    if kind == "noise":
        if not noise_std >= 0:
            raise ValueError(f"noise_std must be at least 0, got {noise_std}")
        noise = torch.randn(
            models.shape, generator=generator, dtype=models.dtype, device=generator.device
        )  # [a, n_params]
        return models + noise_std * noise.to(models.device)
    if kind == "nan":
        return torch.full_like(models, float("nan"))
    if kind == "free_ride":
        return g.expand_as(models).clone()
    return models.clone()  # label

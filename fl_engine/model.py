"""The FF09 model: a one-hidden-layer MLP on single time steps, kept as a flat parameter vector.

Keeping every node's parameters as one flat row of a [nodes, n_params] tensor lets the vectorized
trainer run Adam for all nodes in a handful of tensor ops and lets aggregation rules work on plain
matrices. `FlatLayout` maps a flat vector to the `nn.Sequential` state-dict keys and back.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class MLPConfig:
    n_features: int = 16
    hidden: int = 48

    @cached_property
    def layout(self) -> FlatLayout:
        return FlatLayout(self)

    @property
    def n_params(self) -> int:
        return self.layout.n_params


def make_mlp(cfg: MLPConfig) -> nn.Sequential:
    """16 -> 48 -> 1 with ReLU: 865 parameters, as in the FF09 report."""
    return nn.Sequential(nn.Linear(cfg.n_features, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, 1))


class FlatLayout:
    """Where each `nn.Sequential` tensor lives inside the flat parameter vector.

    Layout: [W1 | b1] as one [hidden, features + 1] block (each hidden unit's weights followed by
    its bias), then w2 [hidden], then b2. With a column of ones appended to the inputs, the first
    layer's forward pass and its weight-and-bias gradient are then one batched matmul each.
    """

    def __init__(self, cfg: MLPConfig) -> None:
        f, h = cfg.n_features, cfg.hidden
        self.n_features, self.hidden = f, h
        self.shapes: dict[str, tuple[int, ...]] = {
            "0.weight": (h, f),
            "0.bias": (h,),
            "2.weight": (1, h),
            "2.bias": (1,),
        }
        self.first = slice(0, h * (f + 1))
        self.second = slice(h * (f + 1), h * (f + 2))
        self.n_params = h * (f + 2) + 1

    def blocks(self, flat: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Views (writes go through): [W1|b1] [..., H, f+1], w2 [..., 1, H], b2 [..., 1]."""
        lead = flat.shape[:-1]
        w1b = flat[..., self.first].view(*lead, self.hidden, self.n_features + 1)
        return w1b, flat[..., self.second].view(*lead, 1, self.hidden), flat[..., -1:]

    def views(self, flat: Tensor) -> dict[str, Tensor]:
        """The state-dict tensors as views into `flat` [..., n_params], shaped [..., *param_shape]."""
        w1b, w2, b2 = self.blocks(flat)
        return {"0.weight": w1b[..., :-1], "0.bias": w1b[..., -1], "2.weight": w2, "2.bias": b2}

    def to_state_dict(self, flat: Tensor) -> dict[str, Tensor]:
        return {k: v.detach().clone().contiguous() for k, v in self.views(flat).items()}

    def from_state_dict(self, state: dict[str, Tensor]) -> Tensor:
        missing = set(self.shapes) - set(state)
        if missing:
            raise ValueError(f"model weights lack {sorted(missing)}")
        for key, shape in self.shapes.items():
            if tuple(state[key].shape) != shape:
                raise ValueError(
                    f"model weight {key} has shape {tuple(state[key].shape)}, expected {shape}"
                )
        w1b = torch.cat([state["0.weight"], state["0.bias"].unsqueeze(1)], dim=1)
        return torch.cat(
            [w1b.reshape(-1), state["2.weight"].reshape(-1), state["2.bias"].reshape(-1)]
        ).float()


def with_bias_column(x: Tensor) -> Tensor:
    """Append the constant input that carries the first layer's bias: [..., f] -> [..., f + 1]."""
    return torch.cat([x, torch.ones(*x.shape[:-1], 1, dtype=x.dtype, device=x.device)], dim=-1)


def init_params(cfg: MLPConfig, seed: int) -> Tensor:
    """PyTorch's default Linear initialisation, seeded, as a flat vector [n_params]."""
    torch.manual_seed(seed)
    model = make_mlp(cfg)
    return cfg.layout.from_state_dict(dict(model.state_dict()))


def forward(cfg: MLPConfig, params: Tensor, x_aug: Tensor) -> Tensor:
    """Stacked models: params [nodes, n_params], x_aug [nodes, rows, f + 1] (`with_bias_column`)
    -> predictions [nodes, rows]."""
    w1b, w2, b2 = cfg.layout.blocks(params)
    hidden = torch.bmm(x_aug, w1b.transpose(1, 2)).relu_()  # [nodes, rows, H]
    return torch.baddbmm(b2.unsqueeze(1), hidden, w2.transpose(1, 2)).squeeze(-1)


def predict(cfg: MLPConfig, params: Tensor, x: Tensor) -> Tensor:
    """One model's predictions: params [n_params], x [rows, f] -> [rows]."""
    with torch.no_grad():
        return forward(cfg, params.unsqueeze(0), with_bias_column(x).unsqueeze(0))[0]

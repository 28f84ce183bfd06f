"""The window model's gradients written out by hand, for training thousands of nodes at once.

`functional_training.train_functional` gets every node's gradient from `vmap(grad(loss))`, which
fits any module but pays autograd's and vmap's bookkeeping on every op of every step: measured
~12 s for one round of 800 lab nodes on a busy core. The window model (`window.WindowNet`) is
three linear layers, so its gradients are a few batched matmuls (`bmm`), written out here as the
FF09 trainer writes its MLP's (`local_training._gradients`). `train_functional` takes them as its
`gradients` argument; the result is the same training, tested against the autograd trainers
(`train_functional` with vmap and the per-node `train_functional_loop`) to float tolerance.

The inputs are the windows transposed, [..., features, window] (`transposed_windows`): the
temporal filters then run as one matmul over every (sample, sensor) pair of a node, with no copy
per step. A lab keeps its sample table in that layout once.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from fl_engine.flat_params import ParamLayout
from fl_engine.window import WindowConfig

WindowGradients = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]
_NAMES = (
    "temporal.weight",
    "temporal.bias",
    "hidden.weight",
    "hidden.bias",
    "out.weight",
    "out.bias",
)


def transposed_windows(windows: Tensor) -> Tensor:
    """[samples, window, features] -> [samples, features, window], contiguous (a copy)."""
    return windows.transpose(-1, -2).contiguous()


def _blocks(layout: ParamLayout, P: Tensor) -> dict[str, Tensor]:
    """Views of P [k, n_params]: temporal.weight [k, filters, window] ... out.bias [k, 1]."""
    if layout.names != _NAMES:
        raise ValueError(f"not the window model's parameters: {layout.names}")
    return layout.unflatten(P)


def _forward(
    blocks: dict[str, Tensor], xt: Tensor, cfg: WindowConfig
) -> tuple[Tensor, Tensor, Tensor]:
    """xt [k, batch, features, window] -> (h1 [k, batch, features * filters] after its ReLU,
    h2 [k, batch, hidden] after its ReLU, out [k, batch])."""
    k, batch = xt.shape[0], xt.shape[1]
    flat = xt.reshape(k, batch * cfg.n_features, cfg.window)  # [k, batch * features, window]
    # bmm, then the bias added in place: baddbmm copies the broadcast bias into its output first
    # (measured ~2x the matmul's own time at these sizes)
    h1 = torch.bmm(flat, blocks["temporal.weight"].transpose(1, 2))
    h1 = h1.add_(blocks["temporal.bias"].unsqueeze(1)).relu_()  # [k, batch * features, filters]
    h1 = h1.view(k, batch, cfg.n_features * cfg.filters)  # flatten(-2): sensor-major, as the net
    h2 = torch.bmm(h1, blocks["hidden.weight"].transpose(1, 2))
    h2 = h2.add_(blocks["hidden.bias"].unsqueeze(1)).relu_()  # [k, batch, hidden]
    out = torch.bmm(h2, blocks["out.weight"].transpose(1, 2)).squeeze(-1)  # [k, batch]
    out = out.add_(blocks["out.bias"])
    return h1, h2, out


def window_predict(layout: ParamLayout, cfg: WindowConfig, P: Tensor, xt: Tensor) -> Tensor:
    """Each node's predictions on its own inputs: P [k, n_params], xt [k, batch, features,
    window] -> [k, batch] (what `vmap(model)` gives on the untransposed windows)."""
    with torch.no_grad():
        return _forward(_blocks(layout, P), xt, cfg)[2]


def window_gradients(layout: ParamLayout, cfg: WindowConfig) -> WindowGradients:
    """The gradient function `train_functional` takes: (P [k, n_params], xt [k, batch, features,
    window], y [k, batch], w [k, batch]) -> grad [k, n_params] of sum(w * (pred - y)**2), w being
    1 / real batch size and 0 on padding (as `functional_training._gradient_fn`)."""

    def gradients(P: Tensor, xt: Tensor, y: Tensor, w: Tensor) -> Tensor:
        b = _blocks(layout, P)
        k, batch = xt.shape[0], xt.shape[1]
        h1, h2, out = _forward(b, xt, cfg)
        d_out = (out - y).mul_(w).mul_(2.0)  # [k, batch]
        d_h2 = torch.ops.aten.threshold_backward(
            d_out.unsqueeze(-1) * b["out.weight"], h2, 0.0
        )  # [k, batch, hidden]
        d_h1 = torch.ops.aten.threshold_backward(
            torch.bmm(d_h2, b["hidden.weight"]), h1, 0.0
        )  # [k, batch, features * filters]
        d_h1 = d_h1.view(k, batch * cfg.n_features, cfg.filters)
        flat = xt.reshape(k, batch * cfg.n_features, cfg.window)
        return torch.cat(
            [
                torch.bmm(d_h1.transpose(1, 2), flat).flatten(1),  # [k, filters * window]
                d_h1.sum(1),  # [k, filters]
                torch.bmm(d_h2.transpose(1, 2), h1).flatten(1),  # [k, hidden * features*filters]
                d_h2.sum(1),  # [k, hidden]
                torch.bmm(d_out.unsqueeze(1), h2).flatten(1),  # [k, hidden]
                d_out.sum(1, keepdim=True),  # [k, 1]
            ],
            dim=1,
        )

    return gradients

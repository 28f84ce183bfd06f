"""Local training of many nodes: the per-node reference loop and the vectorized trainer.

Both take the same inputs: the trainers' flat parameters (one row per node, updated in place), the
padded node data and the same minibatch plans, so for equal seeds they produce the same weights
(tested to 1e-5). Each call starts every node with a fresh Adam optimizer, as a federated client
does when it receives the global model (Flower's clients build a new optimizer per `fit`); a
non-participant's optimizer is fresh each round too. The loop is the readable reference: `nn.Sequential`, autograd and
`torch.optim.Adam`, one node at a time, as the FF09 report's federated.py did. The vectorized
trainer is the product's core and is hand-written for speed: all nodes' parameters are stacked on
a leading dimension and one batched forward/backward (`baddbmm`/`bmm`, with the two-layer MLP's
gradients written out, which avoids autograd's per-op overhead) and one stacked Adam update train
every node at once per minibatch step.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from fl_engine.arrays import IndexArray
from fl_engine.model import MLPConfig, forward, make_mlp, with_bias_column


@dataclass(frozen=True)
class AdamConfig:
    """torch.optim.Adam's defaults (the Keras defaults the report used, up to epsilon).

    `prox_mu`: FedProx's proximal term mu/2 ||w - w_start||^2 (Li et al., MLSys 2020), added to
    every node's loss against the weights it started the call from (the global model in a
    federated round), so its gradient is mu (w - w_start). 0 (the default) leaves the trainers
    exactly as without it: no term is computed at all.
    """

    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    prox_mu: float = 0.0


@dataclass(frozen=True)
class NodeData:
    """Every node's rows, zero-padded to the largest node: nodes never see each other's rows."""

    x: Tensor  # [nodes, max_rows, features + 1], the last column all ones (`with_bias_column`)
    y: Tensor  # [nodes, max_rows]
    sizes: Tensor  # [nodes] real rows per node
    # [nodes, max_rows] where each row came from (its index into the x and y given to `from_rows`),
    # -1 on padding; None for node data not built by `from_rows` (e.g. replicated for benchmarks)
    source: Tensor | None = None

    @classmethod
    def from_rows(
        cls, x: Tensor, y: Tensor, node_rows: list[IndexArray], dtype: torch.dtype = torch.float32
    ) -> NodeData:
        sizes = torch.tensor([len(r) for r in node_rows], dtype=torch.long)
        if int(sizes.min()) < 1:
            raise ValueError("every node needs at least one row of data")
        n, max_rows = len(node_rows), int(sizes.max())
        x = with_bias_column(x)
        px = torch.zeros(n, max_rows, x.shape[1], dtype=dtype)
        py = torch.zeros(n, max_rows, dtype=dtype)
        source = torch.full((n, max_rows), -1, dtype=torch.long)
        for i, rows in enumerate(node_rows):
            idx = torch.as_tensor(rows, dtype=torch.long)
            px[i, : len(rows)] = x[idx].to(dtype)
            py[i, : len(rows)] = y[idx].to(dtype)
            source[i, : len(rows)] = idx
        return cls(px, py, sizes, source)

    @property
    def n_nodes(self) -> int:
        return len(self.sizes)

    def to(self, device: str | torch.device) -> NodeData:
        return NodeData(self.x.to(device), self.y.to(device), self.sizes.to(device), self.source)

    def source_rows(self, nodes: list[int]) -> IndexArray:
        """The source rows the given nodes hold, sorted: what training them feeds the model."""
        if self.source is None:
            raise ValueError("this node data was not built from source rows (`from_rows`)")
        held = self.source[nodes].flatten()
        return np.sort(held[held >= 0].numpy().astype(np.intp))


def epoch_plan(sizes: Tensor, batch_size: int, generator: torch.Generator) -> Tensor:
    """One epoch's minibatches for each node: row indices [nodes, steps, batch], -1 = padding.

    Each node shuffles its own rows (a loop of `randperm`: faster here than sorting random keys);
    nodes with fewer rows run out of batches early.
    """
    counts = sizes.tolist()
    steps = -(-max(counts) // batch_size)
    plan = torch.full((len(counts), steps * batch_size), -1, dtype=torch.long)
    for i, count in enumerate(counts):
        plan[i, :count] = torch.randperm(count, generator=generator)
    return plan.view(len(counts), steps, batch_size)


# ----------------------------------------------------------------------------- reference loop


def train_loop(
    params: Tensor,
    data: NodeData,
    nodes: Tensor,
    plans: list[Tensor],
    mlp: MLPConfig,
    opt: AdamConfig,
) -> None:
    """Reference: for each node, an `nn.Sequential` trained with autograd and `torch.optim.Adam`.

    params [k, n_params] are the k trainers' rows (updated in place); nodes [k] their indices into
    `data`; plans[e] [k, steps, batch] the minibatches of local epoch e.
    """
    layout = mlp.layout
    loss_fn = nn.MSELoss()
    for j, node in enumerate(nodes.tolist()):
        model = make_mlp(mlp).to(params.dtype)
        model.load_state_dict(layout.to_state_dict(params[j]))
        optimizer = torch.optim.Adam(
            model.parameters(), lr=opt.lr, betas=(opt.beta1, opt.beta2), eps=opt.eps
        )
        anchor = [p.detach().clone() for p in model.parameters()]
        for plan in plans:
            for batch in plan[j]:
                rows = batch[batch >= 0]
                if len(rows) == 0:
                    continue
                optimizer.zero_grad()
                loss = loss_fn(model(data.x[node, rows, :-1]).squeeze(-1), data.y[node, rows])
                loss.backward()
                if opt.prox_mu:
                    add_proximal(model.parameters(), anchor, opt.prox_mu)
                optimizer.step()
        params[j] = layout.from_state_dict(dict(model.state_dict())).to(params.dtype)


# ----------------------------------------------------------------------------- vectorized


def add_proximal(params: Iterable[Tensor], anchor: list[Tensor], mu: float) -> None:
    """FedProx in the reference loops: grad += mu (w - w_start), parameter by parameter."""
    with torch.no_grad():
        for p, a in zip(params, anchor, strict=True):
            assert p.grad is not None
            p.grad.add_(p - a, alpha=mu)


def _gradients(P: Tensor, x: Tensor, y: Tensor, w: Tensor, mlp: MLPConfig) -> Tensor:
    """Every node's minibatch gradient of its mean squared error, written out by hand.

    P [n, n_params], x [n, batch, f+1] (bias column included), y [n, batch], w [n, batch] =
    2 / real batch size, 0 on padding rows -> grad [n, n_params] in P's layout.
    """
    w1b, w2, b2 = mlp.layout.blocks(P)  # [n, H, f+1] [n, 1, H] [n, 1]
    h = torch.bmm(x, w1b.transpose(1, 2)).relu_()  # [n, batch, H]
    out = torch.baddbmm(b2.unsqueeze(1), h, w2.transpose(1, 2)).squeeze(-1)  # [n, batch]
    d_out = (out - y).mul_(w)  # [n, batch]
    d_h = torch.ops.aten.threshold_backward(d_out.unsqueeze(-1) * w2, h, 0.0)  # [n, batch, H]
    return torch.cat(
        [
            torch.bmm(d_h.transpose(1, 2), x).flatten(1),  # [n, H*(f+1)]: W1 and b1
            torch.bmm(d_out.unsqueeze(1), h).flatten(1),  # [n, H]: w2
            d_out.sum(1, keepdim=True),  # [n, 1]: b2
        ],
        dim=1,
    )


def adam_update(
    P: Tensor, m: Tensor, v: Tensor, grad: Tensor, step: Tensor | float, opt: AdamConfig
) -> None:
    """Adam as torch.optim.Adam computes it, in place, at step count `step` (1 on the first step):
    one count for all nodes (the usual case) runs torch's fused CPU Adam kernel, a third of the
    cost of the elementwise ops below; a tensor [n] float64 gives each node its own count."""
    if isinstance(step, float):
        torch._fused_adam_(
            [P],
            [grad],
            [m],
            [v],
            [],
            [torch.tensor(step, device=P.device)],
            lr=opt.lr,
            beta1=opt.beta1,
            beta2=opt.beta2,
            weight_decay=0.0,
            eps=opt.eps,
            amsgrad=False,
            maximize=False,
        )
        return
    m.lerp_(grad, 1 - opt.beta1)
    v.mul_(opt.beta2).addcmul_(grad, grad, value=1 - opt.beta2)
    lr_t = (-opt.lr / (1 - opt.beta1**step)).to(P.dtype).unsqueeze(1)  # [n, 1]
    rsqrt_bias2 = (1 - opt.beta2**step).rsqrt().to(P.dtype).unsqueeze(1)  # [n, 1]
    P.addcdiv_(m * lr_t, v.sqrt().mul_(rsqrt_bias2).add_(opt.eps))


def train_vectorized(
    params: Tensor,
    data: NodeData,
    nodes: Tensor,
    plans: list[Tensor],
    mlp: MLPConfig,
    opt: AdamConfig,
    node_chunk: int = 1024,
) -> None:
    """Same contract as `train_loop`.

    Nodes are put in order of size, largest first, so at every step the nodes that still have a
    batch are a prefix and each step works on plain slices (no gathers) even when node sizes
    differ. Nodes are independent within a round, so they are trained in chunks of `node_chunk`
    to keep each step's working set in cache; the result does not depend on the chunk size.
    """
    order = torch.argsort(data.sizes[nodes], descending=True, stable=True)
    P = params[order]
    for start in range(0, len(nodes), node_chunk):
        part = order[start : start + node_chunk]
        _train_chunk(
            P[start : start + node_chunk], data, nodes[part], [p[part] for p in plans], mlp, opt
        )
    params[order] = P


def _train_chunk(
    P: Tensor, data: NodeData, nodes: Tensor, plans: list[Tensor], mlp: MLPConfig, opt: AdamConfig
) -> None:
    """Train nodes sorted by size (largest first) through `plans`, in place."""
    m, v = torch.zeros_like(P), torch.zeros_like(P)
    anchor = P.clone() if opt.prox_mu else None  # FedProx: the weights each node started from
    done = torch.zeros(len(nodes), dtype=torch.float64, device=P.device)  # steps taken so far
    rows_per_node = data.x.shape[1]
    x_flat, y_flat = data.x.view(-1, data.x.shape[2]), data.y.view(-1)
    for plan in plans:
        plan = plan.to(P.device).transpose(0, 1)  # [steps, n, batch]
        valid = plan >= 0
        flat_rows = (plan.clamp(min=0) + nodes.view(1, -1, 1) * rows_per_node).reshape(-1)
        n_steps, n, batch = plan.shape
        xs = x_flat.index_select(0, flat_rows).view(n_steps, n, batch, -1)  # [steps, n, batch, f+1]
        ys = y_flat.index_select(0, flat_rows).view(n_steps, n, batch)  # [steps, n, batch]
        counts = valid.sum(-1)  # [steps, n]
        w = valid * (2.0 / counts.clamp(min=1)).to(P.dtype).unsqueeze(-1)  # [steps, n, batch]
        active = counts > 0  # nodes are sorted by size: the active ones are a prefix
        n_active = active.sum(1).tolist()
        same_start = float(done[0]) if bool((done == done[0]).all()) else None
        for s, k in enumerate(n_active):
            if (
                k == 0
            ):  # this chunk's nodes are done; larger nodes in other chunks set the step count
                break
            grad = _gradients(P[:k], xs[s, :k], ys[s, :k], w[s, :k], mlp)
            if anchor is not None:
                grad.add_(P[:k] - anchor[:k], alpha=opt.prox_mu)
            step = same_start + s + 1 if same_start is not None else done[:k] + (s + 1)
            adam_update(P[:k], m[:k], v[:k], grad, step, opt)
        done += active.sum(0)


def node_losses(
    params: Tensor, data: NodeData, nodes: Tensor, mlp: MLPConfig, chunk: int = 1024
) -> Tensor:
    """Each node's mean squared error on its own rows: params [k, n_params] -> [k]."""
    out = []
    with torch.no_grad():
        for start in range(0, len(nodes), chunk):
            idx = nodes[start : start + chunk]
            pred = forward(mlp, params[start : start + chunk], data.x[idx])  # [k, max_rows]
            mask = torch.arange(data.x.shape[1], device=idx.device) < data.sizes[idx].unsqueeze(1)
            err = ((pred - data.y[idx]) ** 2) * mask
            out.append(err.sum(1) / data.sizes[idx])
    return torch.cat(out) if out else torch.zeros(0)


TRAINERS = {"vectorized": train_vectorized, "loop": train_loop}

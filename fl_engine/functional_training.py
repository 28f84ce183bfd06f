"""Local training of many nodes for any `nn.Module`: a per-node reference loop and a vectorized
trainer built on `torch.func`.

The FF09 trainers (`local_training.py`) write the MLP's gradients by hand; that does not scale to
other architectures. Here the model is a pure function of a flat parameter row
(`flat_params.FunctionalModel`), so `vmap(grad(loss))` gives every node's minibatch gradient in
one call, whatever the module, and one stacked Adam update (the FF09 trainer's) trains every node
per step.

Both trainers take the same inputs: the trainers' flat parameters [k, n_params] (updated in
place), one shared sample table, each node's sample indices and the same minibatch plans (from
`local_training.epoch_plan`), so for equal inputs they give the same weights (tested to 1e-5).
Each call starts every node with a fresh Adam optimizer, as a federated client does when it
receives the global model (Flower's clients build a new optimizer per `fit`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from fl_engine.arrays import IndexArray
from fl_engine.flat_params import FunctionalModel
from fl_engine.local_training import (
    AdamConfig,
    adam_update,  # one Adam for both engines
    add_proximal,
)


@dataclass(frozen=True)
class SampleTable:
    """Every training sample once; nodes refer to theirs by index, so no node data is copied.

    `source` says which row of the protocol data (`ProtocolData.x`) each sample is the target of.
    """

    inputs: Tensor  # [samples, *input_shape], e.g. [samples, window, features]
    targets: Tensor  # [samples]
    source: Tensor  # [samples] long

    def __post_init__(self) -> None:
        if not len(self.inputs) == len(self.targets) == len(self.source):
            raise ValueError("inputs, targets and source need one entry per sample")


@dataclass(frozen=True)
class NodeSamples:
    """Which samples each node holds: indices into a `SampleTable`, -1 after a node's last one."""

    rows: Tensor  # [nodes, max_rows] long
    sizes: Tensor  # [nodes] long

    @classmethod
    def from_lists(cls, node_rows: Sequence[IndexArray]) -> NodeSamples:
        sizes = torch.tensor([len(r) for r in node_rows], dtype=torch.long)
        if len(node_rows) == 0 or int(sizes.min()) < 1:
            raise ValueError("every node needs at least one sample")
        rows = torch.full((len(node_rows), int(sizes.max())), -1, dtype=torch.long)
        for i, r in enumerate(node_rows):
            rows[i, : len(r)] = torch.as_tensor(r, dtype=torch.long)
        return cls(rows, sizes)

    @property
    def n_nodes(self) -> int:
        return len(self.sizes)


FunctionalTrainer = Callable[
    [FunctionalModel, Tensor, SampleTable, NodeSamples, Tensor, list[Tensor], AdamConfig], None
]


def train_functional_loop(
    model: FunctionalModel,
    params: Tensor,
    table: SampleTable,
    nodes: NodeSamples,
    node_idx: Tensor,
    plans: list[Tensor],
    opt: AdamConfig,
) -> None:
    """Reference: one plain module per node, autograd and `torch.optim.Adam`.

    params [k, n_params] are the k trainers' rows (updated in place); node_idx [k] their indices
    into `nodes`; plans[e] [k, steps, batch] the positions in each node's sample list of local
    epoch e's minibatches, -1 = padding.
    """
    for j, node in enumerate(node_idx.tolist()):
        module = copy.deepcopy(model.module)
        module.load_state_dict(model.layout.to_state_dict(params[j]))
        optimizer = torch.optim.Adam(
            module.parameters(), lr=opt.lr, betas=(opt.beta1, opt.beta2), eps=opt.eps
        )
        anchor = [p.detach().clone() for p in module.parameters()]  # FedProx's w_start
        for plan in plans:
            for batch in plan[j]:
                rows = nodes.rows[node, batch[batch >= 0]]
                if len(rows) == 0:
                    continue
                optimizer.zero_grad()
                loss = nn.functional.mse_loss(module(table.inputs[rows]), table.targets[rows])
                torch.autograd.backward(loss)
                if opt.prox_mu:
                    add_proximal(module.parameters(), anchor, opt.prox_mu)
                optimizer.step()
        params[j] = model.layout.flatten(dict(module.named_parameters()))


def _gradient_fn(model: FunctionalModel) -> Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]:
    """vmap(grad) of one node's weighted squared error: P [k, n_params], x [k, batch, ...],
    y and w [k, batch] -> grad [k, n_params]. w = 1 / real batch size, 0 on padding, so the loss
    is each node's mean squared error over its real rows (`mse_loss` in the reference)."""

    def loss(flat: Tensor, x: Tensor, y: Tensor, w: Tensor) -> Tensor:
        return (w * (model(flat, x) - y).square()).sum()

    many: Callable[[Tensor, Tensor, Tensor, Tensor], Tensor] = torch.func.vmap(
        torch.func.grad(loss)
    )

    def fn(P: Tensor, x: Tensor, y: Tensor, w: Tensor) -> Tensor:
        if len(P) > 1:
            return many(P, x, y, w)
        # One node (the centralized model): plain autograd, no vmap. vmap over a single row
        # costs ~1.5-2x as much per step here, and the pooled model takes thousands of steps.
        flat = P[0].detach().requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(loss(flat, x[0], y[0], w[0]), flat)
        return grad.unsqueeze(0)

    return fn


def train_functional(
    model: FunctionalModel,
    params: Tensor,
    table: SampleTable,
    nodes: NodeSamples,
    node_idx: Tensor,
    plans: list[Tensor],
    opt: AdamConfig,
    gradients: Callable[[Tensor, Tensor, Tensor, Tensor], Tensor] | None = None,
) -> None:
    """Same contract as `train_functional_loop`, every node at once.

    Ragged node sizes: nodes are put in order of size, largest first, so at each step the nodes
    that still have a batch are a prefix and the step works on the first k rows (the FF09
    trainer's scheme; no masked-out work). A short last batch is weighted by its real size.
    `gradients` (P [k, n_params], x [k, batch, *sample], y, w [k, batch]) -> [k, n_params]
    replaces `vmap(grad)` where a model's are written out by hand (`window_training`): the same
    training, without autograd's cost per op; the table's inputs are then in its layout.
    """
    order = torch.argsort(nodes.sizes[node_idx], descending=True, stable=True)
    P = params[order]  # [k, n_params], a copy in size order
    idx = node_idx[order]
    m, v = torch.zeros_like(P), torch.zeros_like(P)
    anchor = P.clone() if opt.prox_mu else None  # FedProx: the weights each node started from
    done = torch.zeros(len(idx), dtype=torch.float64)  # Adam steps each node has taken
    gradients = gradients or _gradient_fn(model)
    sample_shape = table.inputs.shape[1:]
    held = nodes.rows[idx]  # [k, max_rows] each node's samples, built once, not per step
    for plan in plans:
        plan = plan[order]  # [k, steps, batch]
        counts = (plan >= 0).sum(-1)  # [k, steps] real rows per batch
        active = counts > 0
        n_active = active.sum(0)  # [steps]
        prefix = torch.arange(len(idx)).unsqueeze(1) < n_active.unsqueeze(0)
        if not torch.equal(active, prefix):
            raise ValueError("a plan must give each node its batches first, then padding")
        same_start = float(done[0]) if bool((done == done[0]).all()) else None
        batch_size = plan.shape[2]
        for s, k in enumerate(n_active.tolist()):
            if k == 0:
                break
            batch = plan[:k, s]  # [k, batch]
            # padding positions read the node's own first sample, with weight 0
            rows = held[:k].gather(1, batch.clamp(min=0))  # [k, batch]
            x = table.inputs.index_select(0, rows.view(-1)).view(k, batch_size, *sample_shape)
            w = (batch >= 0).to(P.dtype) / counts[:k, s : s + 1].to(P.dtype)  # [k, batch]
            grad = gradients(P[:k], x, table.targets[rows], w)  # [k, n_params]
            if anchor is not None:  # FedProx: + mu (w - w_start), see `AdamConfig.prox_mu`
                grad = grad + opt.prox_mu * (P[:k] - anchor[:k])
            step = same_start + s + 1 if same_start is not None else done[:k] + (s + 1)
            adam_update(P[:k], m[:k], v[:k], grad, step, opt)
        done += active.sum(1)
    params[order] = P


FUNCTIONAL_TRAINERS: dict[str, FunctionalTrainer] = {
    "vectorized": train_functional,
    "loop": train_functional_loop,
}

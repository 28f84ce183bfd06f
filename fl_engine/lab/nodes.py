"""The lab's nodes: the distinct partitions' data once, trained for any list of nodes.

Above 80 nodes the partitions are replicated (node j holds partition j mod 80, as the scale
benchmark does), so the data is held once per *partition*, in one shared sample table, and a
round trains exactly its participants: the trainers take node indices, repeats allowed, so 8,000
nodes cost the memory of 80. Label-poisoning attackers train on a second target vector over the
same inputs (their own rows' RUL flipped to cap - RUL); nothing else is copied.

A round is trained in batches of nodes (`batch_nodes`; replicas of a base node together, so a
batch's data stays in cache), so a cancelled run stops within a fraction of a second of work
whatever its size (`train(..., cancel=...)`): the cancel callable is asked
before every batch and, for the window model, whose trainer walks the epochs one by one, before
every epoch of a batch. Nodes are independent within a round, so the batches give exactly the
models one pass over every node gives (tested).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import Tensor

from fl_engine.arrays import FloatArray, IndexArray
from fl_engine.features import ProtocolData
from fl_engine.functional_training import NodeSamples, SampleTable, train_functional
from fl_engine.lab.limits import Cancelled
from fl_engine.local_training import AdamConfig, NodeData, train_vectorized
from fl_engine.model import forward
from fl_engine.model_families import Family, FF09Family, TargetScale, WindowFamily
from fl_engine.window import RUL_CAP, window_rows
from fl_engine.window_training import transposed_windows, window_gradients, window_predict

LOSS_ROWS = 128  # rows of its own data each node's loss is measured on (a fixed seeded sample)
# Nodes per step of the trainers and per forward pass of the losses. The window model's steps are
# bound by memory, not arithmetic: a batch of 128 nodes' minibatch windows (128 x 32 x 1.9 KB)
# mostly stays in cache between the gather, the forward pass and the gradients, where 512 nodes'
# (31 MB) went to memory and back three times (measured ~2x the CPU time a row here).
MAX_BATCH_NODES = {"window": 128, "ff09": 512}
LOSS_CHUNK = {"window": 32, "ff09": 256}
# Node-row-epochs between two cancel checks. Measured on 2 busy cores with one torch thread: the
# window model trains ~350,000 a second (hand-written gradients, `window_training`), FF09
# ~1,500,000; so a check comes every ~0.3 s of work at most, well within a second.
CHECK_WORK = {"window": 100_000, "ff09": 500_000}
# Batches trained at once, each in its own Python thread: torch runs a whole batch's ops in the
# calling thread (the lab trains with one intra-op thread) and releases the GIL inside them, so
# two batches use two cores without the per-op hand-offs that make a second intra-op thread slow
# on a loaded machine (fl_engine/threads.py). Nodes are independent, so the models are the same.
TRAIN_WORKERS = min(2, len(os.sched_getaffinity(0)))


class _CheckedEpochs(list[Tensor]):
    """The epochs' plans, asking `check` before each one is handed out (the window trainer takes
    them one by one, so a cancel lands between two epochs of a batch)."""

    def __init__(self, plans: list[Tensor], check: Callable[[], None]) -> None:
        super().__init__(plans)
        self._check = check

    def __iter__(self) -> Iterator[Tensor]:
        for plan in super().__iter__():
            self._check()
            yield plan


def poisoned_rul(rul: FloatArray) -> FloatArray:
    """Label poisoning: an engine near failure is told it is new and a new one that it is failing
    (RUL -> cap - RUL, the cap the window model's target uses)."""
    return np.maximum(RUL_CAP - np.minimum(rul, RUL_CAP), 0.0)


class LabNodes:
    """The data of every distinct partition ("base" node), ready to train and measure any nodes."""

    def __init__(
        self,
        family: Family,
        data: ProtocolData,
        target: TargetScale,
        node_rows: list[IndexArray],
        seed: int,
    ) -> None:
        self.family = family
        self.workers = TRAIN_WORKERS
        y = target.encode(data.runs.rul)
        self._poisoned_y = target.encode(poisoned_rul(data.runs.rul))
        self.sizes = torch.tensor([len(r) for r in node_rows], dtype=torch.long)
        rng = np.random.default_rng([seed, 5])
        # the rows each node's loss is measured on: positions in its own rows, a fixed sample
        self.loss_positions = [
            np.sort(rng.choice(len(r), min(len(r), LOSS_ROWS), replace=False)) for r in node_rows
        ]
        self._loss_pos, self._loss_mask = _padded(self.loss_positions)  # [base nodes, width]
        if isinstance(family, WindowFamily):
            rows = np.concatenate(node_rows)
            wr = window_rows(data.engine_rows, data.runs.n_rows, family.cfg.window)[rows]
            source = torch.as_tensor(rows, dtype=torch.long)
            # [samples, features, window]: the layout the hand-written gradients read
            inputs = transposed_windows(data.x[torch.as_tensor(wr, dtype=torch.long)])
            self._gradients = window_gradients(family.model.layout, family.cfg)
            self.table = SampleTable(inputs, y[source], source)
            self.poisoned_table = SampleTable(inputs, self._poisoned_y[source], source)
            bounds = np.cumsum([0] + [len(r) for r in node_rows])
            self.samples = NodeSamples.from_lists(
                [np.arange(a, b) for a, b in itertools.pairwise(bounds)]
            )
        elif isinstance(family, FF09Family):
            self.node_data = NodeData.from_rows(data.x, y, node_rows)
            self._node_rows = node_rows
            self._poisoned_data: NodeData | None = None
        else:
            raise ValueError(f"the lab cannot train the {family.name} family")

    @property
    def n_base(self) -> int:
        return len(self.sizes)

    def batch_nodes(self, epochs: int) -> int:
        """Nodes per batch: at most `CHECK_WORK` node-row-epochs between two cancel checks (per
        epoch for the window model, per batch for FF09), at most `MAX_BATCH_NODES`, at least 2
        (the functional trainer takes another path for a lone node: not the same rounding)."""
        per_node = float(self.sizes.max()) * (
            1 if isinstance(self.family, WindowFamily) else epochs
        )
        work = CHECK_WORK.get(self.family.name, CHECK_WORK["window"])
        most = MAX_BATCH_NODES.get(self.family.name, MAX_BATCH_NODES["window"])
        return max(2, min(most, int(work // max(per_node, 1.0))))

    def train(
        self,
        params: Tensor,
        base: Tensor,
        plans: list[Tensor],
        adam: AdamConfig,
        poisoned: bool,
        cancel: Callable[[], bool] | None = None,
        batch: int | None = None,
        workers: int | None = None,
    ) -> None:
        """Train params [k, n_params] in place, row i on base node base[i]'s rows (or poisoned
        targets), through plans[e] [k, steps, batch] (`epoch_plan` of those nodes' sizes), in
        batches of `batch` nodes (default `batch_nodes`), `workers` batches at once (default
        `self.workers`); `Cancelled` as soon as `cancel()` is true at a check (the rows not yet
        trained are left as they were)."""

        def check() -> None:
            if cancel is not None and cancel():
                raise Cancelled("the run was cancelled")

        if len(base) == 0:
            return
        batches = -(-len(base) // (batch or self.batch_nodes(len(plans))))
        bounds = np.linspace(0, len(base), batches + 1).round().astype(int)
        # Replicas of a base node side by side: a batch then reads the windows of one or two base
        # nodes (~1.4 MB each), which stay in cache, not of all 80 (113 MB, from memory each step)
        order = torch.argsort(base, stable=True)  # [k]
        # even batches (no lone last node) of node indices, each [nodes in batch]
        parts = [order[int(start) : int(end)] for start, end in itertools.pairwise(bounds)]

        def one(rows: Tensor) -> Tensor:
            check()
            sub = params[rows]  # [nodes in batch, n_params], a copy
            self._train(
                sub, base[rows], _CheckedEpochs([p[rows] for p in plans], check), adam, poisoned
            )
            return sub

        workers = self.workers if workers is None else workers
        if workers <= 1 or len(parts) < 2:
            for rows in parts:
                params[rows] = one(rows)
            return
        with ThreadPoolExecutor(workers, thread_name_prefix="lab-batch") as pool:
            for rows, trained in zip(parts, pool.map(one, parts), strict=True):
                params[rows] = trained  # written by this thread only

    def _train(
        self, params: Tensor, base: Tensor, plans: list[Tensor], adam: AdamConfig, poisoned: bool
    ) -> None:
        if len(base) == 0:
            return
        family = self.family
        if isinstance(family, WindowFamily):
            table = self.poisoned_table if poisoned else self.table
            train_functional(
                family.model, params, table, self.samples, base, plans, adam, self._gradients
            )
        else:
            assert isinstance(family, FF09Family)
            data = self._ff09_poisoned() if poisoned else self.node_data
            train_vectorized(params, data, base, plans, family.mlp, adam)

    def _ff09_poisoned(self) -> NodeData:
        if self._poisoned_data is None:
            d = self.node_data
            padded = torch.zeros_like(d.y)
            for i, rows in enumerate(self._node_rows):
                padded[i, : len(rows)] = self._poisoned_y[torch.as_tensor(rows, dtype=torch.long)]
            self._poisoned_data = NodeData(d.x, padded, d.sizes, d.source)  # x shared
        return self._poisoned_data

    def losses(
        self, params: Tensor, base: Tensor, cancel: Callable[[], bool] | None = None
    ) -> Tensor:
        """Each model's mean squared error in the trainer's units (standardized target) on its
        base node's fixed sample of own rows (true targets): params [k, n_params] -> [k];
        `Cancelled` as soon as `cancel()` is true before a chunk of nodes."""
        out, chunk = [], LOSS_CHUNK.get(self.family.name, LOSS_CHUNK["window"])
        with torch.no_grad():
            for start in range(0, len(base), chunk):
                if cancel is not None and cancel():
                    raise Cancelled("the run was cancelled")
                out.append(self._losses(params[start : start + chunk], base[start : start + chunk]))
        return torch.cat(out) if out else torch.zeros(0)

    def _losses(self, params: Tensor, base: Tensor) -> Tensor:
        pos, mask = self._loss_pos[base], self._loss_mask[base]  # [k, width]
        family = self.family
        if isinstance(family, WindowFamily):
            idx = self.samples.rows[base.unsqueeze(1), pos].view(-1)  # [k * width] into the table
            x = self.table.inputs.index_select(0, idx)  # [k * width, features, window]
            y = self.table.targets[idx].view(pos.shape)  # [k, width]
            x = x.view(*pos.shape, *x.shape[1:])  # [k, width, features, window]
            pred = window_predict(family.model.layout, family.cfg, params, x)  # [k, width]
        else:
            assert isinstance(family, FF09Family)
            b = base.unsqueeze(1)
            x, y = self.node_data.x[b, pos], self.node_data.y[b, pos]
            pred = forward(family.mlp, params, x)
        return ((pred - y).square() * mask).sum(1) / mask.sum(1)


def _padded(positions: list[IndexArray]) -> tuple[Tensor, Tensor]:
    """Ragged positions -> ([n, width] long, padded with each row's first; [n, width] 1/0 mask),
    built once so measuring 8,000 nodes' losses loops over no node in Python."""
    width = max(len(p) for p in positions)
    pos = torch.zeros(len(positions), width, dtype=torch.long)
    mask = torch.zeros(len(positions), width)
    for i, p in enumerate(positions):
        pos[i, : len(p)] = torch.as_tensor(p)
        pos[i, len(p) :] = int(p[0])
        mask[i, : len(p)] = 1.0
    return pos, mask

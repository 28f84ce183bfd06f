"""Top-k sparsification with error feedback: each node sends its largest coordinates and keeps the
rest for later.

Sending only the k = max(1, round(fraction * n_params)) largest-magnitude coordinates is biased on
its own: small coordinates would never move. Error feedback (Seide et al., "1-Bit Stochastic
Gradient Descent and its Application to Data-Parallel Distributed Training of Speech DNNs",
Interspeech 2014; Stich, Cordonnier, Jaggi, "Sparsified SGD with Memory", NeurIPS 2018) fixes
that: each node adds its residual (what it has not sent yet) to the next update, so every
coordinate is sent once it has grown large enough, and nothing is lost: the sum of what a node
sent plus its residual equals the sum of its updates.

The residual memory is [n_nodes, n_params] float32, allocated at the first round; a node that
does not take part in a round keeps its residual as it was.

Message: uint32 count, the indices ascending (uint16 if n_params < 65536, else uint32), then the
float32 values: 4 + count * (2 or 4) + 4 * count bytes, little-endian.

Non-finite values (a malicious NaN node): torch.topk ranks NaN above every number, and infinity
is the largest magnitude, so they are sent, the decoded row is non-finite, and the server's screen
rejects it. Such a node's residual row is reset to zero, so one bad round does not poison its
later ones.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from fl_engine.compression.base import (
    Compressed,
    Int64s,
    Nodes,
    check_fraction,
    check_updates,
)


def index_dtype(n_params: int) -> str:
    """The narrowest index that fits: uint16 below 65536 coordinates, else uint32."""
    return "<u2" if n_params < 65536 else "<u4"


class TopK:
    """The largest `fraction` of each node's (update + residual), with per-node error feedback."""

    name = "topk"

    def __init__(self, fraction: float = 0.05, *, n_nodes: int) -> None:
        self.fraction = check_fraction(fraction)
        if n_nodes < 1:
            raise ValueError(f"n_nodes must be at least 1, got {n_nodes}")
        self.n_nodes = n_nodes
        self.residual: Tensor | None = None  # [n_nodes, n_params], allocated at the first round

    def count(self, n_params: int) -> int:
        """k: how many coordinates each node sends."""
        return min(n_params, max(1, round(self.fraction * n_params)))

    def nbytes(self, n_params: int) -> int:
        """The exact message size for n_params."""
        width = np.dtype(index_dtype(n_params)).itemsize
        return 4 + self.count(n_params) * (width + 4)

    def _memory(self, ids: Int64s, n_params: int) -> Tensor:
        """The residual memory, allocated on first use; checks the ids and the width."""
        if ids.size and (ids.min() < 0 or ids.max() >= self.n_nodes):
            raise ValueError(f"nodes must be in [0, {self.n_nodes}), got {ids.tolist()}")
        if self.residual is None:
            self.residual = torch.zeros(self.n_nodes, n_params, dtype=torch.float32)
        if self.residual.shape[1] != n_params:
            raise ValueError(
                f"updates must be [k, {self.residual.shape[1]}], got n_params={n_params}"
            )
        return self.residual

    def _select(self, updates: Tensor, nodes: Nodes) -> tuple[Tensor, Tensor, int]:
        """One round: -> (indices [k, count] ascending, values [k, count] float32, n_params);
        the participants' residuals become what they did not send."""
        u, ids = check_updates(updates, nodes)  # [k, n_params]
        n = u.shape[1]
        memory = self._memory(ids, n)  # [n_nodes, n_params]
        rows = torch.from_numpy(ids)  # [k]
        total = memory[rows] + u  # [k, n_params] update + what was held back
        _, chosen = torch.topk(total.abs(), self.count(n), dim=1)  # [k, count]
        indices = chosen.sort(dim=1).values  # [k, count]
        values = total.gather(1, indices)  # [k, count]
        left = total.scatter(1, indices, 0.0)  # [k, n_params] what stays behind
        finite = torch.isfinite(total).all(dim=1, keepdim=True)  # [k, 1]
        memory[rows] = torch.where(finite, left, torch.zeros_like(left))
        return indices, values, n

    def __call__(self, updates: Tensor, nodes: Nodes, generator: torch.Generator) -> Compressed:
        indices, values, n = self._select(updates, nodes)
        decoded = torch.zeros(values.shape[0], n, dtype=torch.float32)  # [k, n_params]
        decoded.scatter_(1, indices, values)
        nbytes = np.full(values.shape[0], self.nbytes(n), dtype=np.int64)  # [k]
        return Compressed(decoded.to(updates.device), nbytes)

    def messages(self, updates: Tensor, nodes: Nodes, generator: torch.Generator) -> list[bytes]:
        indices, values, n = self._select(updates, nodes)
        count = np.uint32(indices.shape[1]).astype("<u4").tobytes()
        index_rows = indices.numpy().astype(index_dtype(n))  # [k, count]
        value_rows = values.numpy().astype("<f4")  # [k, count]
        return [
            count + i.tobytes() + v.tobytes() for i, v in zip(index_rows, value_rows, strict=True)
        ]

    def decode(self, message: bytes, n_params: int) -> Tensor:
        if len(message) < 4:
            raise ValueError(f"topk message must be at least 4 bytes, got {len(message)}")
        count = int(np.frombuffer(message[:4], dtype="<u4")[0])
        width = np.dtype(index_dtype(n_params)).itemsize
        if len(message) != 4 + count * (width + 4):
            raise ValueError(
                f"topk message of {count} values must be {4 + count * (width + 4)} bytes"
            )
        end = 4 + count * width
        indices = np.frombuffer(message[4:end], dtype=index_dtype(n_params)).astype(np.int64)
        if count and indices.max() >= n_params:
            raise ValueError(f"topk message has an index past n_params={n_params}")
        values = np.frombuffer(message[end:], dtype="<f4").astype(np.float32)
        decoded = torch.zeros(n_params, dtype=torch.float32)
        decoded[torch.from_numpy(indices)] = torch.from_numpy(values)
        return decoded

"""What every compression scheme shares: the `Compressed` round it returns, the `Compressor`
protocol, and the argument checks.

A client sends its update (its trained model minus the global model) as bytes; the server decodes
them. Each scheme has a real byte encoding (`messages`, `decode`), so a byte count is the `len` of
a message, never an estimate. Training takes the vectorized path (`__call__`): every node's
decoded update and exact size at once, equal to `decode(message)` node by node (tested). Decoded
updates are float32, the wire's precision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

Nodes = Sequence[int] | npt.NDArray[np.integer]
Int64s = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Compressed:
    updates: Tensor  # [k, n_params] float32, what the server decodes
    nbytes: Int64s  # int64 [k], the exact encoded size per node


class Compressor(Protocol):
    """A client-update codec; it may keep per-node state across rounds (top-k's residual), so
    `__call__` and `messages` are each one round's send: call one of them per round."""

    name: str

    def __call__(self, updates: Tensor, nodes: Nodes, generator: torch.Generator) -> Compressed:
        """updates [k, n_params] (client minus global), nodes [k] the clients' global ids ->
        the decoded updates and each node's message size."""
        ...

    def messages(self, updates: Tensor, nodes: Nodes, generator: torch.Generator) -> list[bytes]:
        """The real encodings, one per node (same draws as `__call__` for the same generator)."""
        ...

    def decode(self, message: bytes, n_params: int) -> Tensor:
        """One node's message -> its update [n_params] float32."""
        ...


def check_updates(updates: Tensor, nodes: Nodes) -> tuple[Tensor, Int64s]:
    """Shapes: updates [k, n_params], nodes [k] distinct ids -> (updates as float32 on the CPU
    [k, n_params], nodes as int64 [k]). Float32 first: that is what goes on the wire."""
    if updates.dim() != 2:
        raise ValueError(f"updates must be [k, n_params], got {tuple(updates.shape)}")
    if not updates.is_floating_point():
        raise ValueError(f"updates must be floating point, got {updates.dtype}")
    if updates.shape[1] < 1:
        raise ValueError("updates must have at least one parameter")
    ids = np.asarray(nodes, dtype=np.int64).reshape(-1)
    if ids.shape[0] != updates.shape[0]:
        raise ValueError(
            f"nodes must be [{updates.shape[0]}] (one per update row), got {ids.shape}"
        )
    if np.unique(ids).shape[0] != ids.shape[0]:
        raise ValueError("nodes must be distinct")
    return updates.detach().to("cpu", torch.float32), ids


def check_fraction(fraction: float, what: str = "fraction") -> float:
    """A share of the coordinates: in (0, 1]."""
    if not (0.0 < fraction <= 1.0):  # also refuses NaN
        raise ValueError(f"{what} must be in (0, 1], got {fraction}")
    return float(fraction)


def check_size(message: bytes, expected: int, scheme: str) -> None:
    """A message of the wrong length is refused rather than read past or short."""
    if len(message) != expected:
        raise ValueError(f"{scheme} message must be {expected} bytes, got {len(message)}")

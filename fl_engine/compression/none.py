"""No compression: the update's float32 values as they are, the baseline every scheme's bytes are
measured against (4 bytes per parameter, little-endian)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from fl_engine.compression.base import Compressed, Nodes, check_size, check_updates


class NoCompression:
    """float32 raw: bytes = 4 * n_params. A non-finite value travels as it is, so the server's
    screen sees it exactly as it would uncompressed."""

    name = "none"

    def __call__(self, updates: Tensor, nodes: Nodes, generator: torch.Generator) -> Compressed:
        u, _ = check_updates(updates, nodes)  # [k, n_params]
        nbytes = np.full(u.shape[0], 4 * u.shape[1], dtype=np.int64)  # [k]
        return Compressed(u.to(updates.device), nbytes)

    def messages(self, updates: Tensor, nodes: Nodes, generator: torch.Generator) -> list[bytes]:
        u, _ = check_updates(updates, nodes)
        rows = u.numpy().astype("<f4")  # [k, n_params]
        return [row.tobytes() for row in rows]

    def decode(self, message: bytes, n_params: int) -> Tensor:
        check_size(message, 4 * n_params, self.name)
        return torch.from_numpy(np.frombuffer(message, dtype="<f4").astype(np.float32))

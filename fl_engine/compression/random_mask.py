"""Konečný's structured update with a random mask: each node sends a random share of its
coordinates, and a seed in place of their positions.

Konečný, McMahan, Yu, Richtárik, Suresh, Bacon, "Federated Learning: Strategies for Improving
Communication Efficiency", 2016, section 2 ("random mask"): the update is restricted to a sparse
random pattern generated from a seed, so only the seed and the non-zero values go on the wire.
Each coordinate is kept with probability `fraction`; the server regenerates the mask from the
seed (`seeded_mask`, SplitMix64) and scales the kept values by 1 / fraction, which makes the
decoded update unbiased: E[decoded] = update. The price is variance, (1 / fraction - 1) * u^2
per coordinate, which the server's mean over nodes (each with its own seed) averages down.

Message: uint64 seed, then the kept values as float32 in coordinate order: 8 + 4 * kept bytes
(kept ~ Binomial(n_params, fraction), so sizes differ by node and round).

Non-finite values (a malicious NaN node) are sent only where the mask keeps them: a kept NaN
decodes to NaN and the server's screen rejects the row; a NaN the mask leaves out never reaches
the server, which then sees a finite update. An all-NaN row is rejected unless its mask is empty.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

from fl_engine.compression.base import Compressed, Nodes, check_fraction, check_updates
from fl_engine.compression.seeded_mask import U64, mask_from_seeds

SEED_BYTES = 8


def draw_seeds(k: int, generator: torch.Generator) -> U64:
    """k full 64-bit seeds from the round's generator (two 32-bit halves each)."""
    halves = torch.randint(0, 2**32, (k, 2), generator=generator, dtype=torch.int64).numpy()
    halves = halves.astype(np.uint64)  # [k, 2]
    seeds: U64 = (halves[:, 0] << np.uint64(32)) | halves[:, 1]
    return seeds


def unmask(values: Tensor, mask: Tensor, fraction: float) -> Tensor:
    """values [k, n_params] float32 (read where mask), mask [k, n_params] -> decoded float32.

    The one formula both the vectorized path and `decode` use, so they agree bit for bit."""
    scaled = values.double() / fraction  # [k, n_params]
    return torch.where(mask, scaled, torch.zeros_like(scaled)).float()


class RandomMask:
    """Keep each coordinate with probability `fraction`, send the seed and the kept values."""

    name = "mask"

    def __init__(self, fraction: float = 0.1) -> None:
        self.fraction = check_fraction(fraction)

    def _masks(self, k: int, n: int, generator: torch.Generator) -> tuple[U64, Tensor]:
        """-> (seeds [k] uint64, masks [k, n] bool)."""
        seeds = draw_seeds(k, generator)
        return seeds, torch.from_numpy(mask_from_seeds(seeds, n, self.fraction))

    def __call__(self, updates: Tensor, nodes: Nodes, generator: torch.Generator) -> Compressed:
        u, _ = check_updates(updates, nodes)  # [k, n_params]
        _, masks = self._masks(u.shape[0], u.shape[1], generator)  # [k, n_params]
        decoded = unmask(u, masks, self.fraction)  # [k, n_params]
        nbytes = SEED_BYTES + 4 * masks.sum(dim=1).numpy().astype(np.int64)  # [k]
        return Compressed(decoded.to(updates.device), nbytes)

    def messages(self, updates: Tensor, nodes: Nodes, generator: torch.Generator) -> list[bytes]:
        u, _ = check_updates(updates, nodes)
        seeds, masks = self._masks(u.shape[0], u.shape[1], generator)
        rows: npt.NDArray[np.float32] = u.numpy()
        keep = masks.numpy()
        return [
            seed.astype("<u8").tobytes() + row[m].astype("<f4").tobytes()
            for seed, row, m in zip(seeds, rows, keep, strict=True)
        ]

    def decode(self, message: bytes, n_params: int) -> Tensor:
        if len(message) < SEED_BYTES or (len(message) - SEED_BYTES) % 4:
            raise ValueError(f"mask message must be 8 + 4 * kept bytes, got {len(message)}")
        seed = np.frombuffer(message[:SEED_BYTES], dtype="<u8").astype(np.uint64)  # [1]
        mask = torch.from_numpy(mask_from_seeds(seed, n_params, self.fraction)[0])  # [n_params]
        kept = np.frombuffer(message[SEED_BYTES:], dtype="<f4").astype(np.float32)
        if kept.shape[0] != int(mask.sum()):
            raise ValueError(
                f"mask message has {kept.shape[0]} values, its seed keeps {int(mask.sum())}"
            )
        values = torch.zeros(n_params, dtype=torch.float32)
        values[mask] = torch.from_numpy(kept)
        return unmask(values[None, :], mask[None, :], self.fraction)[0]

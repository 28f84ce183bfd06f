"""Stochastic quantization of an update to 2^bits - 1 levels between its min and max.

Each value is rounded to one of the two levels around it at random, up with probability equal to
how far it lies toward the upper one, so the decoded update is unbiased (E[decoded] = update) and
off by less than one level, (max - min) / (2^bits - 1). Unbiased noise averages out over the
server's mean, where a deterministic rounding would bias every round the same way. This is QSGD's
stochastic rounding (Alistarh et al., "QSGD: Communication-Efficient SGD via Gradient
Quantization and Encoding", NeurIPS 2017) with the min-max range of the probabilistic
quantization in Konečný et al., "Federated Learning: Strategies for Improving Communication
Efficiency", 2016.

Message: float32 min, float32 max (8 bytes), then the levels, one per byte for 8 bits and two per
byte for 4 bits (the even coordinate in the low nibble): 8 + ceil(n_params * bits / 8) bytes.

A row whose min == max decodes exactly to that constant. A row with a non-finite value (a
malicious NaN node) has a non-finite min or max in its header, sends zero levels, and decodes to
an all-NaN row: the server's screen rejects it, as it would the row uncompressed.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor

from fl_engine.compression.base import Compressed, Nodes, check_size, check_updates

HEADER = 8  # float32 min, float32 max
BITS = {8: "int8", 4: "int4"}


def dequantize(low: Tensor, high: Tensor, levels: Tensor, n_levels: int) -> Tensor:
    """low, high [k, 1] float32, levels [k, n_params] -> decoded [k, n_params] float32.

    The one formula both the vectorized path and `decode` use (in float64, so a huge range
    cannot overflow), which makes them bit for bit equal. Non-finite headers give NaN rows."""
    lo, hi = low.double(), high.double()  # [k, 1]
    step = (hi - lo) / n_levels  # [k, 1]
    decoded = (lo + levels.double() * step).float()  # [k, n_params]
    finite = torch.isfinite(lo) & torch.isfinite(hi)  # [k, 1]
    return torch.where(finite, decoded, torch.full_like(decoded, float("nan")))


class StochasticQuantizer:
    """Unbiased stochastic rounding to 8 or 4 bits per value plus an 8-byte header."""

    def __init__(self, bits: int) -> None:
        if bits not in BITS:
            raise ValueError(f"bits must be 8 or 4, got {bits}")
        self.bits = bits
        self.name = BITS[bits]
        self.n_levels = 2**bits - 1  # levels 0..n_levels

    def nbytes(self, n_params: int) -> int:
        """The exact message size: header + packed levels."""
        return HEADER + (n_params * self.bits + 7) // 8

    def _quantize(self, u: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        """u [k, n_params] float32 -> (low [k, 1], high [k, 1] float32, levels [k, n_params])."""
        low = u.amin(dim=1, keepdim=True)  # [k, 1], NaN if the row has one
        high = u.amax(dim=1, keepdim=True)  # [k, 1]
        lo, hi = low.double(), high.double()
        step = (hi - lo) / self.n_levels  # [k, 1]
        usable = torch.isfinite(step) & (step > 0)  # [k, 1]: not constant, not non-finite
        scaled = (u.double() - lo) / torch.where(usable, step, torch.ones_like(step))  # [k, n]
        noise = torch.rand(u.shape, generator=generator, dtype=torch.float64)  # [k, n_params]
        levels = torch.floor(scaled + noise).clamp_(0, self.n_levels)  # [k, n_params]
        levels = torch.where(usable, levels, torch.zeros_like(levels))
        return low, high, levels.to(torch.uint8)

    def __call__(self, updates: Tensor, nodes: Nodes, generator: torch.Generator) -> Compressed:
        u, _ = check_updates(updates, nodes)  # [k, n_params]
        low, high, levels = self._quantize(u, generator)
        decoded = dequantize(low, high, levels, self.n_levels)  # [k, n_params]
        nbytes = np.full(u.shape[0], self.nbytes(u.shape[1]), dtype=np.int64)  # [k]
        return Compressed(decoded.to(updates.device), nbytes)

    def messages(self, updates: Tensor, nodes: Nodes, generator: torch.Generator) -> list[bytes]:
        u, _ = check_updates(updates, nodes)
        low, high, levels = self._quantize(u, generator)
        headers = torch.cat([low, high], dim=1).numpy().astype("<f4")  # [k, 2]
        packed = self._pack(levels.numpy())  # [k, ceil(n * bits / 8)]
        return [h.tobytes() + p.tobytes() for h, p in zip(headers, packed, strict=True)]

    def _pack(self, levels: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """[k, n_params] levels -> [k, n_bytes]: 4-bit levels two per byte, even one low."""
        if self.bits == 8:
            return levels
        if levels.shape[1] % 2:  # odd: pad the last high nibble with 0
            levels = np.pad(levels, ((0, 0), (0, 1)))
        return (levels[:, 0::2] | (levels[:, 1::2] << 4)).astype(np.uint8)

    def _unpack(self, body: npt.NDArray[np.uint8], n_params: int) -> npt.NDArray[np.uint8]:
        """The inverse of `_pack` for one message body -> [n_params] levels."""
        if self.bits == 8:
            return body
        both = np.stack([body & 0x0F, body >> 4], axis=1).reshape(-1)  # [2 * n_bytes]
        return both[:n_params]

    def decode(self, message: bytes, n_params: int) -> Tensor:
        check_size(message, self.nbytes(n_params), self.name)
        header = torch.from_numpy(np.frombuffer(message[:HEADER], dtype="<f4").astype(np.float32))
        body = np.frombuffer(message[HEADER:], dtype=np.uint8)
        levels = torch.from_numpy(self._unpack(body, n_params).copy())  # [n_params]
        return dequantize(header[:1, None], header[1:, None], levels[None, :], self.n_levels)[0]

"""Fixed-point encoding of float updates into the ring Z_{2^32}, where the masks live.

Secure aggregation (Bonawitz et al. 2017, "Practical Secure Aggregation for Privacy-Preserving
Machine Learning", CCS 2017, §3 and §4) masks vectors in Z_R with R = 2^32 here: masks are uniform
in the ring, so a masked value says nothing about the value under it, and the masks cancel in the
modular sum. Floats therefore become integers first: round(x * 2^scale_bits), stored as two's
complement mod 2^32, and the server decodes the modular sum back as a signed 32-bit integer.

The sum must not wrap around, or the decoded total is off by 2^32 / 2^scale_bits. `encode` clamps
each value so that the sum of up to `max_summands` of them stays inside (-2^31, 2^31).

The ring has no NaN and no infinity: +inf maps to the positive clamp value, -inf to the negative
one, and NaN to the positive clamp value (not to 0, which would silently look like "no change"; a
saturated coordinate in the decoded sum is the visible trace of a NaN that went in).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

U32 = npt.NDArray[np.uint32]
F64 = npt.NDArray[np.float64]
RING_BITS = 32
MAX_SCALE_BITS = 30  # at least one integer bit above the sign bit


def _check(scale_bits: int, max_summands: int) -> None:
    if not 0 <= scale_bits <= MAX_SCALE_BITS:
        raise ValueError(f"scale_bits must be in [0, {MAX_SCALE_BITS}], got {scale_bits}")
    if max_summands < 1:
        raise ValueError(f"max_summands must be >= 1, got {max_summands}")


def _bound_int(scale_bits: int, max_summands: int) -> int:
    """The largest |integer| per summand: max_summands of them sum to at most 2^31 - 1."""
    _check(scale_bits, max_summands)
    return int((2 ** (RING_BITS - 1) - 1) // max_summands)


def clamp_bound(scale_bits: int, max_summands: int) -> float:
    """The largest |value| `encode` keeps, about 2^(31 - scale_bits) / max_summands.

    Exactly floor((2^31 - 1) / max_summands) / 2^scale_bits, so that a sum of max_summands
    values at the bound is at most 2^31 - 1 and decodes without wrapping.
    """
    return float(_bound_int(scale_bits, max_summands)) / float(2**scale_bits)


def _as_float64(x: npt.ArrayLike | torch.Tensor) -> F64:
    if isinstance(x, torch.Tensor):
        return np.asarray(x.detach().to("cpu", torch.float64).numpy(), dtype=np.float64)
    return np.asarray(x, dtype=np.float64)


def encode(x: npt.ArrayLike | torch.Tensor, scale_bits: int = 16, *, max_summands: int) -> U32:
    """Floats [k, n] (any shape) -> ring elements uint32 [k, n], round to nearest.

    Values beyond ±clamp_bound(scale_bits, max_summands) are clamped; ±inf to the bound, NaN to
    the positive bound (the ring has no NaN, see the module docstring).
    """
    values = _as_float64(x)  # [k, n]
    bound = _bound_int(scale_bits, max_summands)
    scaled = np.where(np.isnan(values), np.inf, values) * float(2**scale_bits)  # NaN -> +bound
    ints = np.clip(np.rint(scaled), -bound, bound).astype(np.int64)  # [k, n], |.| < 2^31
    return (ints & 0xFFFFFFFF).astype(np.uint32)


def encodable(
    x: npt.ArrayLike | torch.Tensor, scale_bits: int = 16, *, max_summands: int
) -> npt.NDArray[np.bool_]:
    """Which rows of floats [k, n] a client may mask: every value finite and within
    ±clamp_bound(scale_bits, max_summands) -> bool [k].

    `encode` would clamp the others (NaN to the bound), and the clamped value would enter the sum
    where the server, seeing only the sum, cannot screen it; an honest client refuses instead
    and drops out of the round before masking (`protocol.secure_sum`).
    """
    values = _as_float64(x)
    if values.ndim != 2:
        raise ValueError(f"x must be 2-D [k, n], got shape {values.shape}")
    bound = clamp_bound(scale_bits, max_summands)
    ok = np.isfinite(values) & (np.abs(values) <= bound)  # [k, n]
    return np.asarray(ok.all(axis=1), dtype=np.bool_)


def decode(total: npt.ArrayLike, scale_bits: int = 16) -> F64:
    """A modular sum uint32 [n] -> floats [n]: read as signed 32-bit, divide by 2^scale_bits."""
    _check(scale_bits, 1)
    ring = np.asarray(total, dtype=np.uint32)  # [n]
    return ring.view(np.int32).astype(np.float64) / float(2**scale_bits)

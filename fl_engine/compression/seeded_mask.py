"""A random coordinate mask that the server regenerates from a 64-bit seed alone.

The random-mask scheme sends a seed instead of the positions of the values it keeps, so the mask
must be a pure function of (seed, coordinate). SplitMix64 (Steele, Lea, Flood, "Fast Splittable
Pseudorandom Number Generators", OOPSLA 2014) is one: its i-th output is a fixed mix of
seed + (i + 1) * golden gamma, so every coordinate of every node's mask comes out in one
vectorized numpy pass over [k, n_params], with no per-node generator to step through, and any
platform with wrapping uint64 arithmetic gets the same bits.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
GAMMA = np.uint64(0x9E3779B97F4A7C15)
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)


def splitmix64(seeds: U64, n: int) -> U64:
    """seeds [k] -> the first n SplitMix64 outputs of each [k, n] (uint64 arithmetic wraps)."""
    steps = np.arange(1, n + 1, dtype=np.uint64)  # [n]
    z = seeds[:, None] + steps[None, :] * GAMMA  # [k, n]
    z = (z ^ (z >> np.uint64(30))) * MIX1
    z = (z ^ (z >> np.uint64(27))) * MIX2
    out: U64 = z ^ (z >> np.uint64(31))
    return out


def uniforms(seeds: U64, n: int) -> npt.NDArray[np.float64]:
    """seeds [k] -> [k, n] uniform draws in [0, 1), the top 53 bits of each output."""
    return (splitmix64(seeds, n) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def mask_from_seeds(seeds: U64, n: int, fraction: float) -> npt.NDArray[np.bool_]:
    """seeds [k] -> [k, n] mask, each coordinate kept with probability `fraction`."""
    return uniforms(seeds, n) < fraction

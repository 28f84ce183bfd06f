"""Compressed client updates: what a node sends the server instead of its raw float32 update.

Every scheme has a real byte encoding (`Compressor.messages` / `Compressor.decode`) and a
vectorized path for training (`Compressor.__call__`: all nodes' decoded updates and exact sizes
at once, equal to the encodings decoded node by node):

- "none": float32 raw, 4 bytes per parameter.
- "int8", "int4": unbiased stochastic quantization between each update's min and max
  (QSGD, Alistarh et al. 2017; Konečný et al. 2016).
- "topk": the largest coordinates with error feedback (Seide et al. 2014; Stich et al. 2018).
- "mask": a seeded random mask, unbiased by 1 / fraction (Konečný et al. 2016).
"""

from __future__ import annotations

from fl_engine.compression.base import Compressed, Compressor
from fl_engine.compression.none import NoCompression
from fl_engine.compression.quantize import StochasticQuantizer
from fl_engine.compression.random_mask import RandomMask
from fl_engine.compression.topk import TopK

COMPRESSIONS = ("none", "int8", "int4", "topk", "mask")

__all__ = [
    "COMPRESSIONS",
    "Compressed",
    "Compressor",
    "NoCompression",
    "RandomMask",
    "StochasticQuantizer",
    "TopK",
    "make_compressor",
]


def make_compressor(
    name: str, *, n_nodes: int, topk_fraction: float = 0.05, mask_fraction: float = 0.1
) -> Compressor:
    """A fresh compressor by name (top-k's residual memory is per instance: one per run)."""
    if name == "none":
        return NoCompression()
    if name == "int8":
        return StochasticQuantizer(8)
    if name == "int4":
        return StochasticQuantizer(4)
    if name == "topk":
        return TopK(topk_fraction, n_nodes=n_nodes)
    if name == "mask":
        return RandomMask(mask_fraction)
    raise ValueError(f"compression must be one of {', '.join(COMPRESSIONS)}; got {name!r}")

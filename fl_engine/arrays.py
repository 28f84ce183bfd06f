"""numpy array types shared by the engine: values in float64, indices in intp, flags in bool."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]  # raw signals, RUL, predictions and errors in cycles
IndexArray = npt.NDArray[np.intp]  # row and engine indices, unit ids, cycle counts
BoolArray = npt.NDArray[np.bool_]
StrArray = npt.NDArray[np.str_]  # e.g. each engine's C-MAPSS subset

__all__ = ["BoolArray", "FloatArray", "IndexArray", "StrArray"]

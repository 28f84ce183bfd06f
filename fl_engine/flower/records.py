"""Model parameters <-> Flower records: one float32 array under one key.

A flat [n_params] vector (the engine's own layout, `fl_engine.model`) rather than a state dict:
the server's rules (`fl_engine.aggregation`) work on flat rows, and one array keeps the payload
exactly what `ArrayRecord.count_bytes` reports.
"""

from __future__ import annotations

import numpy as np
import torch
from flwr.app import ArrayRecord
from torch import Tensor

PARAMS_KEY = "params"


def to_record(params: Tensor) -> ArrayRecord:
    return ArrayRecord([params.detach().to(torch.float32).contiguous().numpy()])


def from_record(record: ArrayRecord) -> Tensor:
    arrays = record.to_numpy_ndarrays()
    if len(arrays) != 1:
        raise ValueError(f"expected one parameter array, got {len(arrays)}")
    return torch.from_numpy(np.array(arrays[0], dtype=np.float32)).reshape(-1)

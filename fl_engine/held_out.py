"""The protocol's held-out test engines, ready to score many models at once.

Only ever scored: nothing here feeds a choice of model, setting or margin (those come from the
training or validation engines).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from fl_engine.arrays import FloatArray
from fl_engine.features import ProtocolData
from fl_engine.metrics import late_life_rmse, rmse
from fl_engine.model_families import Family
from fl_engine.window import RUL_CAP


class HeldOutSet:
    """The protocol's held-out engines, ready to score many models at once."""

    def __init__(self, data: ProtocolData, family: Family) -> None:
        engines = [data.engine_rows[e] for e in data.test_engines]
        rows = np.concatenate(engines)
        positions = np.split(np.arange(len(rows)), np.cumsum([len(r) for r in engines])[:-1])
        self.inputs = family.inputs(data.x[torch.as_tensor(rows)], positions)
        self.true = data.runs.rul[rows]
        self.family = family

    def scores(self, params: Tensor, to_cycles: Callable[[Tensor], FloatArray]) -> dict[str, Any]:
        """RMSE, late-life RMSE and RMSE against the capped RUL of params [k, n_params]."""
        pred = to_cycles(self.family.predict(params, self.inputs))  # [k, rows]
        capped = np.minimum(self.true, RUL_CAP)
        return {
            "rmse": [rmse(p, self.true) for p in pred],
            "late_life_rmse": [late_life_rmse(p, self.true) for p in pred],
            "capped_rmse": [rmse(p, capped) for p in pred],
        }

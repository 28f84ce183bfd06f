"""The bridge from the engine to the game: held-out engines with each model's predicted RUL.

Predictions are computed once here, at start-up, so a game tick never calls a model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EngineTrace:
    """One held-out engine that ran to failure, replayed cycle by cycle in a factory slot.

    Row k is cycle k+1. The engine fails after its last row, so its true RUL at row k is
    `n_cycles - 1 - k`.
    """

    engine_id: str  # e.g. "FD001-train-17"
    sensors: np.ndarray  # [cycles, 16] feature values in raw units (for the sensor charts)
    local_rul: np.ndarray  # [cycles] RUL predicted by the local (one-factory) model
    federated_rul: np.ndarray  # [cycles] RUL predicted by the federated model

    @property
    def n_cycles(self) -> int:
        return len(self.sensors)

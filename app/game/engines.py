"""The engines a game replays: held-out run-to-failure engines with each model's predicted RUL.

Plain arrays only, so the rules never call a model; `app.bridge` fills these from the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating[Any]]


ModelName = Literal["local", "federated", "centralized"]


@dataclass(frozen=True)
class Margins:
    """Each model's calibration margin in cycles: how far its RUL runs above the truth late in
    life (the `level` quantile on its own training engines; `fl_engine.calibration`). The
    calibrated decision reads `prediction - margin`; 0 everywhere makes it FF09's raw rule."""

    federated: float = 0.0
    centralized: float = 0.0
    local: FloatArray | None = None  # [nodes] each factory's own; None: 0 for every factory

    def of(self, model: ModelName, node: int = 0) -> float:
        if model == "federated":
            return self.federated
        if model == "centralized":
            return self.centralized
        return 0.0 if self.local is None else float(self.local[node])


@dataclass(frozen=True)
class EngineTrace:
    """One held-out engine that ran to failure, replayed cycle by cycle in a factory slot.

    Row k is cycle k+1. The engine fails after its last row, so its true RUL at row k is
    `n_cycles - 1 - k`.
    """

    engine_id: str  # e.g. "FD001-train-17"
    sensors: FloatArray  # [cycles, features] feature values in raw units (for the sensor charts)
    local_rul: FloatArray  # [nodes, cycles] RUL predicted by each factory's own local model
    federated_rul: FloatArray  # [cycles] RUL predicted by the federated model
    centralized_rul: FloatArray | None = None  # [cycles] the model trained on all data at once
    margins: Margins = field(default_factory=Margins)  # the same object on every trace of a pool

    def margin(self, model: ModelName, decision: str, node: int = 0) -> float:
        """What the decision subtracts from `model`'s prediction: its margin, or 0 when raw."""
        if decision == "raw":
            return 0.0
        if decision == "calibrated":
            return self.margins.of(model, node)
        raise ValueError(f"unknown decision {decision!r}; expected calibrated or raw")

    def lower_bound(self, model: ModelName, decision: str, node: int = 0) -> FloatArray:
        """[cycles] the RUL the decision reads: prediction - margin (the prediction when raw)."""
        rul = {
            "local": self.local_rul[node] if model == "local" else None,
            "federated": self.federated_rul,
            "centralized": self.centralized_rul,
        }[model]
        if rul is None:
            raise ValueError(f"engine {self.engine_id} has no {model} predictions")
        return np.asarray(rul, dtype=np.float64) - self.margin(model, decision, node)

    @property
    def n_cycles(self) -> int:
        return len(self.sensors)

    @property
    def n_nodes(self) -> int:
        """Factories of the federation, each with its own local model."""
        return int(self.local_rul.shape[0])


@dataclass(frozen=True)
class GameModels:
    """What a game server needs from the engine, computed once at start-up."""

    traces: list[EngineTrace]  # held-out engines that ran to failure
    model: str  # the model family the predictions come from ("ff09" or "window")
    feature_names: list[str]  # the sensor features, in `EngineTrace.sensors` column order
    metrics: Mapping[str, Any]  # the engine's metrics.json (RMSE of each model, curves...)

    def check(self) -> None:
        """Refuse models a game cannot use, saying what is wrong."""
        if not self.traces:
            raise ValueError("the game models hold no engine traces: nothing to play")
        width = len(self.feature_names)
        for trace in self.traces:
            if trace.sensors.ndim != 2 or trace.sensors.shape[1] != width:
                raise ValueError(
                    f"engine {trace.engine_id} has sensors of shape {trace.sensors.shape}, "
                    f"expected [cycles, {width}] to match the {width} feature names"
                )
            n_nodes = self.traces[0].n_nodes
            local = trace.margins.local
            if local is not None and np.shape(local) != (n_nodes,):
                raise ValueError(
                    f"engine {trace.engine_id} has {np.shape(local)} local margins for {n_nodes} "
                    "factories"
                )
            if (
                trace.local_rul.shape != (n_nodes, trace.n_cycles)
                or trace.federated_rul.shape != (trace.n_cycles,)
                or (
                    trace.centralized_rul is not None
                    and trace.centralized_rul.shape != (trace.n_cycles,)
                )
            ):
                raise ValueError(
                    f"engine {trace.engine_id} has predictions of the wrong shape: local "
                    f"{trace.local_rul.shape} (expected ({n_nodes}, {trace.n_cycles})), federated "
                    f"{trace.federated_rul.shape}"
                )

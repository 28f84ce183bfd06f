"""The factory models' margins (`fl_engine.calibration`), measured on training engines only.

- centralized: its residuals over every training engine, pooled (it saw them all).
- federated: each factory counts the federated model's residuals on its own engines into the
  shared bins; the server sums the counts and reads the quantile. No residual leaves a factory.
- local: each factory's own model on its own four engines alone: about 120 residuals, so the
  margin of one factory is itself a lucky or unlucky draw; that is part of what local costs.

"in-sample" measures a model on the engines it trained on (optimistic: it has seen them).
"cross-fit" measures it with models that never saw the calibration engines: every factory's
engines are dealt into `CROSS_FIT_FOLDS` folds, each fold's models train on the other folds
(same seeds, rounds and deal), and each engine's residuals come from the models blind to it.
The margin then goes with the model trained on everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from fl_engine.arrays import IndexArray
from fl_engine.calibration import (
    Calibration,
    CalibrationSpec,
    CountArray,
    calibration_of,
    late_rows,
    residual_histogram,
)
from fl_engine.features import ProtocolData
from fl_engine.model_families import Family, TargetScale

CROSS_FIT_FOLDS = 2


@dataclass(frozen=True)
class FactoryCalibration:
    """The margins of one set of factory models."""

    centralized: Calibration
    federated: Calibration
    local: list[Calibration]  # one per factory

    def to_json(self, decision: str) -> dict[str, Any]:
        return {
            "centralized": self.centralized.to_json(decision),
            "federated": self.federated.to_json(decision),
            "local": [c.to_json(decision) for c in self.local],
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> FactoryCalibration:
        def one(d: dict[str, Any]) -> Calibration:
            return Calibration(
                float(d["level"]),
                float(d["window"]),
                float(d["margin"]),
                str(d["method"]),
                int(d["rows"]),
            )

        return cls(one(doc["centralized"]), one(doc["federated"]), [one(d) for d in doc["local"]])


@dataclass(frozen=True)
class ResidualCounts:
    """Histograms of residuals before any quantile is read: summed across folds when cross-fit."""

    centralized: CountArray  # [N_BINS]
    federated: CountArray  # [factories, N_BINS] each factory's own counts (the server sums them)
    local: CountArray  # [factories, N_BINS]

    def __add__(self, other: ResidualCounts) -> ResidualCounts:
        return ResidualCounts(
            self.centralized + other.centralized,
            self.federated + other.federated,
            self.local + other.local,
        )

    def calibration(self, spec: CalibrationSpec, method: str) -> FactoryCalibration:
        return FactoryCalibration(
            centralized=calibration_of(self.centralized, spec, method),
            federated=calibration_of(self.federated.sum(0), spec, method),
            local=[calibration_of(c, spec, method) for c in self.local],
        )


def model_predictions(
    data: ProtocolData,
    family: Family,
    target: TargetScale,
    params: Tensor,
    engines: IndexArray,
    spec: CalibrationSpec,
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], IndexArray]:
    """Predictions of params [k, n_params] at every row of `engines` inside the window:
    (RUL in cycles [k, late rows], true RUL [late rows], engine of each late row)."""
    rows = [data.engine_rows[e] for e in engines]
    flat = np.concatenate(rows)
    positions = np.split(np.arange(len(flat)), np.cumsum([len(r) for r in rows])[:-1])
    true = data.runs.rul[flat]
    late = late_rows(true, spec)
    engine_of = np.repeat(np.asarray(engines), [len(r) for r in rows])[late]
    inputs = family.inputs(data.x[torch.as_tensor(flat)], positions)[torch.as_tensor(late)]
    with torch.no_grad():
        pred = target.to_cycles(family.predict(params, inputs))  # [k, late rows]
    return pred, true[late], engine_of


def residual_counts(
    data: ProtocolData,
    family: Family,
    target: TargetScale,
    models: dict[str, Tensor],
    scored: list[IndexArray],
    spec: CalibrationSpec,
) -> ResidualCounts:
    """Counts of each model's residuals on the engines `scored[i]` of each factory i.

    `models`: "centralized" [n_params], "federated" [n_params], "local" [factories, n_params].
    The centralized model's counts cover every factory's scored engines."""
    everything = np.concatenate(scored)
    stacked = torch.cat([models["centralized"][None], models["federated"][None], models["local"]])
    pred, true, engine_of = model_predictions(data, family, target, stacked, everything, spec)
    inside = CalibrationSpec(spec.level, np.inf)  # the rows are already the window's
    centralized = residual_histogram(pred[0], true, inside)
    federated = np.zeros((len(scored), len(centralized)), dtype=np.int64)
    local = np.zeros_like(federated)
    for i, engines in enumerate(scored):
        mine = np.isin(engine_of, engines)
        federated[i] = residual_histogram(pred[1, mine], true[mine], inside)
        local[i] = residual_histogram(pred[2 + i, mine], true[mine], inside)
    return ResidualCounts(centralized, federated, local)


def cross_fit_folds(
    partition: list[IndexArray], folds: int = CROSS_FIT_FOLDS
) -> list[list[IndexArray]]:
    """[fold][factory] the engines each fold holds out: a factory's engines in turn, so every fold
    leaves every factory with engines to train on (a factory needs at least `folds` engines)."""
    short = [i for i, p in enumerate(partition) if len(p) < folds]
    if short:
        raise ValueError(
            f"cross-fit calibration needs at least {folds} engines per factory; factory {short[0]} "
            f"has {len(partition[short[0]])}"
        )
    return [[np.asarray(p)[k::folds] for p in partition] for k in range(folds)]

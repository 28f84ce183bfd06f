"""Server aggregation rules: `make_aggregator(name)(global [n_params], models [k, n_params],
weights [k]) -> Aggregate(params [n_params], rejected)` (docs/lab.md, section 1).

One rule per file, each citing its paper; every rule first leaves out clients whose model is not
finite (`base.screen`). `AGGREGATORS` is the older form (pure `rule(updates, weights)` functions)
that `fl_engine.federated` uses.
"""

from __future__ import annotations

import math

from fl_engine.aggregation.base import Aggregate, Aggregator
from fl_engine.aggregation.fedadam import FedAdam
from fl_engine.aggregation.fedavg import FedAvg, fedavg
from fl_engine.aggregation.fedavgm import FedAvgM
from fl_engine.aggregation.krum import Krum
from fl_engine.aggregation.median import Median
from fl_engine.aggregation.trimmed_mean import TrimmedMean

AGGREGATIONS = ("fedavg", "fedprox", "fedavgm", "fedadam", "median", "trimmed_mean", "krum")
AGGREGATORS = {"fedavg": fedavg}


def make_aggregator(
    name: str,
    *,
    server_lr: float = 1.0,
    momentum: float = 0.9,
    trim_fraction: float = 0.1,
    krum_byzantine: int | None = None,
    multi_krum: int | None = None,
    seed: int = 0,
) -> Aggregator:
    """A fresh rule (stateful ones start from zero state). Every option is checked, whichever the
    rule; a bad one raises ValueError naming it. `seed` is accepted for the contract's sake: no
    rule here draws random numbers (ties go to the lower client index)."""
    if name not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {name!r}; choose from {', '.join(AGGREGATIONS)}")
    if not (math.isfinite(server_lr) and server_lr > 0):
        raise ValueError(f"server_lr must be a positive number, got {server_lr}")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    if not 0 <= trim_fraction < 0.5:
        raise ValueError(f"trim_fraction must be in [0, 0.5), got {trim_fraction}")
    if krum_byzantine is not None and krum_byzantine < 0:
        raise ValueError(f"krum_byzantine must be at least 0 (or None), got {krum_byzantine}")
    if multi_krum is not None and multi_krum < 1:
        raise ValueError(f"multi_krum must be at least 1 (or None), got {multi_krum}")
    if not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if name in ("fedavg", "fedprox"):
        return FedAvg(name)
    if name == "fedavgm":
        return FedAvgM(server_lr=server_lr, momentum=momentum)
    if name == "fedadam":
        return FedAdam(server_lr=server_lr)
    if name == "median":
        return Median()
    if name == "trimmed_mean":
        return TrimmedMean(trim_fraction)
    return Krum(krum_byzantine, multi_krum)


__all__ = [
    "AGGREGATIONS",
    "AGGREGATORS",
    "Aggregate",
    "Aggregator",
    "FedAdam",
    "FedAvg",
    "FedAvgM",
    "Krum",
    "Median",
    "TrimmedMean",
    "fedavg",
    "make_aggregator",
]

"""Where the factory models' federation runs: the contract between `factory_training` and a
runtime other than in process (`fl_engine.flower.factory_stage`: Flower's simulation or
deployment runtime).

The in-process run trains the federated and the local stage in `rounds.train_rounds`; a runner
trains both on its own nodes and hands back what `train_rounds` would (`RoundsResult`), plus each
factory's residual counts of the final federated model and of its own local model, counted where
the factory's rows are (so the margins need no residual sent anywhere). The centralized model is
the pooled reference: it always trains in process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from torch import Tensor

from fl_engine.calibration import CountArray
from fl_engine.factory_calibration import ResidualCounts
from fl_engine.factory_types import FactoryModelsConfig
from fl_engine.features import ProtocolData
from fl_engine.model_families import Family
from fl_engine.rounds import RoundsResult, Stage

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class FederationInputs:
    """What the in-process federated and local stages would be given."""

    data: ProtocolData
    family: Family
    cfg: FactoryModelsConfig
    init: Tensor  # [n_params] every model's seeded start
    nodes: Stage  # the factories as the in-process stages train them (sizes, row ids)
    tick: Progress
    after_round: Callable[[str, Tensor], None] | None  # as `train_stages` calls it


@dataclass(frozen=True)
class FederationResult:
    federated: RoundsResult  # params [factories, n_params], every row the global model
    local: RoundsResult  # params [factories, n_params], each factory's own model
    federated_counts: CountArray  # [factories, N_BINS] the global model on each one's engines
    local_counts: CountArray  # [factories, N_BINS] each local model on its own engines

    def counts(self, centralized: CountArray) -> ResidualCounts:
        """The nodes' counts with the pooled model's (counted where it trained: in process)."""
        return ResidualCounts(centralized, self.federated_counts, self.local_counts)


class FederationRunner(Protocol):
    """A runtime for the federated and local stages; `name` goes into the metrics."""

    name: str

    def __call__(self, inp: FederationInputs) -> FederationResult: ...


def unsupported_on_runner(cfg: FactoryModelsConfig) -> str | None:
    """Why a runner other than in process cannot train `cfg` equivalently, or None."""
    if cfg.calibration != "in-sample":
        return "the Flower runtimes calibrate in-sample only (--calibration in-sample)"
    if cfg.trainer != "vectorized":
        return "the Flower runtimes train with the vectorized trainer only"
    if cfg.server_optimizer != "fedavg":
        return "the Flower runtimes run the factory federation with the fedavg server rule only"
    return None

"""What a Flower run of the FF09 federation is asked to do (`FlowerSpec`) and what it hands back
(`FlowerOutcome`), shared by the simulation and the deployment runtimes.

Plain dataclasses with no flwr import, so the CLI and the experiment can name them without Flower
installed. `to_run_config` is the one place that spells the run-config keys the ServerApp and the
ClientApp read (`fl_engine.flower.settings`), so both runtimes pass exactly the same settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import Tensor

# (round number from 1, that round's record: test RMSE, losses, bytes, seconds)
OnRound = Callable[[int, dict[str, Any]], None]


@dataclass(frozen=True)
class FlowerSpec:
    """One federated stage of the FF09 protocol, as the in-process engine would run it.

    `non_participant` is the node that trains alone alongside the federation (the game's local
    model); None = every node federates. `sample_fraction` and `n_failed` follow the in-process
    engine's seeded rule (`fl_engine.flower.participation`): the server asks the nodes that rule
    picks and every node replays the minibatch stream drawn for that round's trainers.
    """

    seed: int
    nodes: int
    rounds: int
    data_dir: Path
    out_dir: Path
    local_epochs: int = 1
    lr: float = 1e-3
    batch_size: int = 32
    partition: str = "iid"
    sample_fraction: float = 1.0
    non_participant: int | None = 0
    n_test_engines: int = 80
    hidden: int = 48
    cycle_input: bool = False
    aggregation: str = "fedavg"
    round_timeout_s: float = 3600.0
    # Participation (`fl_engine.flower.participation`): the in-process engine's seeded rule
    n_failed: int = 0  # nodes down from `failure_round` (0-based) on
    failure_round: int = 5
    # Privacy: DP-FedAvg with Flower's fixed clipping (`.privacy`), Flower's SecAgg+ (`.secure`)
    dp_noise: float = 0.0  # noise multiplier z; 0 = no DP
    dp_clip: float = 1.0  # clipping norm C
    dp_delta: float | None = None  # None = 1 / nodes**1.1
    secure_aggregation: bool = False
    # Another model family: `Family.describe()` as `fl_engine.flower.families.family_config`
    # writes it; "" = the FF09 experiment's MLP (`hidden`, `cycle_input`) as above.
    family: str = ""
    plan_seed: int | None = None  # seed of the minibatch stream; None = `seed`
    local_models: bool = False  # every node also trains its own model alone (the game's local)
    calibration_level: float = 0.9  # the margins' quantile (`fl_engine.calibration`)
    calibration_window: float = 30.0  # ... of residuals at true RUL <= this

    def __post_init__(self) -> None:
        from fl_engine.flower.participation import spec_problem

        problem = spec_problem(self)
        if problem:
            raise ValueError(problem)
        if self.nodes < 1 or self.rounds < 1 or self.local_epochs < 1 or self.batch_size < 1:
            raise ValueError("nodes, rounds, local_epochs and batch_size must be at least 1")
        if self.non_participant is not None and not 0 <= self.non_participant < self.nodes:
            raise ValueError(f"non_participant must be a node index below nodes={self.nodes}")
        federating = self.nodes - (self.non_participant is not None)
        if federating < 1:
            raise ValueError("at least one node must federate")

    def to_run_config(self) -> dict[str, bool | int | float | str]:
        """Flower run config (`--run-config` / `context.run_config`): TOML-friendly scalars."""
        return {
            "seed": self.seed,
            "nodes": self.nodes,
            "rounds": self.rounds,
            "local-epochs": self.local_epochs,
            "lr": self.lr,
            "batch-size": self.batch_size,
            "partition": self.partition,
            "data-dir": str(self.data_dir),
            "out-dir": str(self.out_dir),
            "non-participant": -1 if self.non_participant is None else self.non_participant,
            "n-test-engines": self.n_test_engines,
            "hidden": self.hidden,
            "cycle-input": self.cycle_input,
            "aggregation": self.aggregation,
            "round-timeout": self.round_timeout_s,
            "sample-fraction": self.sample_fraction,
            "n-failed": self.n_failed,
            "failure-round": self.failure_round,
            "dp-noise": self.dp_noise,
            "dp-clip": self.dp_clip,
            "dp-delta": 0.0 if self.dp_delta is None else self.dp_delta,
            "secure-aggregation": self.secure_aggregation,
            "family": self.family,
            "plan-seed": -1 if self.plan_seed is None else self.plan_seed,
            "local-models": self.local_models,
            "calibration-level": self.calibration_level,
            "calibration-window": self.calibration_window,
        }


@dataclass
class FlowerOutcome:
    """A finished Flower run, read back from what the ServerApp wrote to `out_dir`.

    `rounds[r]` is round r+1's record (test_rmse, late_life_rmse, per-node losses and rows,
    bytes_up/bytes_down, seconds); `round_params[r]` the global model after round r+1;
    `local_params` the non-participant's own model after the last round (None without one).
    """

    global_params: Tensor  # [n_params]
    rounds: list[dict[str, Any]]
    seconds_per_round: list[float]
    startup_seconds: float
    round_params: list[Tensor] = field(default_factory=list)
    local_params: Tensor | None = None

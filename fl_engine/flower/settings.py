"""The run settings the ServerApp and the ClientApp read from Flower's run config (and a node's
data location from its node config), parsed once into a typed, hashable value.

Hashable because it is the key of the per-process caches (`fl_engine.flower.task`): two messages
of one run share the node data and the replayed minibatch stream; a different run does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunSettings:
    seed: int
    nodes: int
    rounds: int
    local_epochs: int
    lr: float
    batch_size: int
    partition: str
    data_dir: str
    out_dir: str
    non_participant: int  # -1 = every node federates
    n_test_engines: int
    hidden: int
    cycle_input: bool
    aggregation: str
    round_timeout: float
    min_nodes: int = 0  # nodes a round needs to start and aggregate; 0 = all `nodes`
    # Participation and privacy (`fl_engine.flower.participation`, `.privacy`, `.secure`)
    sample_fraction: float = 1.0  # share of federating nodes the seeded rule samples a round
    n_failed: int = 0  # nodes the seeded rule takes down from `failure_round` (0-based) on
    failure_round: int = 5
    dp_noise: float = 0.0  # DP-FedAvg noise multiplier z (0: no DP)
    dp_clip: float = 1.0  # DP-FedAvg clipping norm C
    dp_delta: float = 0.0  # delta epsilon is reported at; 0 = 1 / nodes**1.1
    secure_aggregation: bool = False  # Flower's SecAgg+ (`fl_engine.flower.secure`)
    family: str = ""  # `Family.describe()` (`families.family_config`); "" = the FF09 MLP
    plan_seed: int = -1  # seed of the replayed minibatch stream; -1 = `seed`
    local_models: bool = False  # every node also trains its own model alone
    calibration_level: float = 0.9
    calibration_window: float = 30.0

    @classmethod
    def from_config(
        cls, run_config: Mapping[str, Any], node_config: Mapping[str, Any] | None = None
    ) -> RunSettings:
        """Run config keys as `FlowerSpec.to_run_config` writes them; a node's own `data-dir`
        (node config) wins over the run's, since in a deployment each site holds its files."""
        node = node_config or {}
        data_dir = str(node.get("data-dir") or run_config.get("data-dir", ""))
        return cls(
            seed=int(run_config["seed"]),
            nodes=int(run_config["nodes"]),
            rounds=int(run_config["rounds"]),
            local_epochs=int(run_config["local-epochs"]),
            lr=float(run_config["lr"]),
            batch_size=int(run_config["batch-size"]),
            partition=str(run_config["partition"]),
            data_dir=data_dir,
            out_dir=str(run_config.get("out-dir", "")),
            non_participant=int(run_config.get("non-participant", -1)),
            n_test_engines=int(run_config.get("n-test-engines", 80)),
            hidden=int(run_config.get("hidden", 48)),
            cycle_input=bool(run_config.get("cycle-input", False)),
            aggregation=str(run_config.get("aggregation", "fedavg")),
            round_timeout=float(run_config.get("round-timeout", 3600.0)),
            min_nodes=int(run_config.get("min-nodes", 0)),
            sample_fraction=float(run_config.get("sample-fraction", 1.0)),
            n_failed=int(run_config.get("n-failed", 0)),
            failure_round=int(run_config.get("failure-round", 5)),
            dp_noise=float(run_config.get("dp-noise", 0.0)),
            dp_clip=float(run_config.get("dp-clip", 1.0)),
            dp_delta=float(run_config.get("dp-delta", 0.0)),
            secure_aggregation=bool(run_config.get("secure-aggregation", False)),
            family=str(run_config.get("family", "")),
            plan_seed=int(run_config.get("plan-seed", -1)),
            local_models=bool(run_config.get("local-models", False)),
            calibration_level=float(run_config.get("calibration-level", 0.9)),
            calibration_window=float(run_config.get("calibration-window", 30.0)),
        )

    @property
    def federating(self) -> list[int]:
        """Partition ids whose updates are averaged, ascending (the aggregation order)."""
        return [i for i in range(self.nodes) if i != self.non_participant]

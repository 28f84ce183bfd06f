"""The experiment's federated stage on a Flower runtime: `flower_stage(runtime, ...)` is a
`FederatedRunner` for `fl_engine.experiment.run_experiment`, so naive, centralized and every
node alone stay in process and `metrics.json` is written by the same code as before.

The Flower run trains all `n_nodes` nodes (the non-participant training alone alongside) and
returns per-round records; this turns them into the engine's `RoundReport`s. A node's
`loss_after` (own-data loss with the new global model) is computed here from the global model the
server recorded after each round, on the parent's copy of the node data, as the in-process engine
computes it; nodes report their `loss_before` (after local training) themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from fl_engine.experiment import ExperimentConfig, FederatedInputs, FederatedStage
from fl_engine.federated import NodeReport, RoundReport
from fl_engine.flower.spec import FlowerOutcome, FlowerSpec, OnRound
from fl_engine.local_training import node_losses

RuntimeFn = Callable[[FlowerSpec, OnRound | None], FlowerOutcome]
# statuses of nodes with no reply, as the round record lists them (disjoint lists)
PLANNED = ("not_sampled", "offline", "failed", "dropped")


def unsupported(cfg: ExperimentConfig) -> str | None:
    """Why the Flower runtimes cannot run this experiment config equivalently, or None."""
    if cfg.trainer != "vectorized":
        return "the Flower runtimes train with the vectorized trainer only (--trainer vectorized)"
    return None


@dataclass
class FlowerStage:
    """A FederatedRunner on `runtime`; keeps the last `FlowerOutcome` for the caller's report."""

    runtime: RuntimeFn
    data_dir: Path
    out_dir: Path
    outcomes: list[FlowerOutcome] = field(default_factory=list)
    # FlowerSpec fields beyond the experiment config: dp_noise, dp_clip, dp_delta,
    # secure_aggregation (`fl_engine.flower.privacy`, `.secure`), round_timeout_s (the deadline)
    extra: dict[str, Any] = field(default_factory=dict)

    def __call__(self, inp: FederatedInputs) -> FederatedStage:
        cfg = inp.cfg
        why = unsupported(cfg)
        if why:
            raise ValueError(why)
        spec = FlowerSpec(
            seed=cfg.seed,
            nodes=cfg.n_nodes,
            rounds=cfg.rounds,
            data_dir=self.data_dir,
            out_dir=self.out_dir,
            local_epochs=cfg.local_epochs,
            lr=cfg.lr,
            batch_size=cfg.batch_size,
            partition=cfg.partition,
            non_participant=cfg.non_participant,
            n_test_engines=cfg.n_test_engines,
            hidden=cfg.hidden,
            cycle_input=cfg.cycle_input,
            sample_fraction=cfg.sample_fraction,
            n_failed=cfg.n_failed,
            failure_round=cfg.failure_round,
            **self.extra,
        )
        outcome = self.runtime(spec, lambda r, _record: inp.tick("federated", r, cfg.rounds))
        self.outcomes.append(outcome)
        if outcome.local_params is None:
            raise ValueError("the Flower run returned no model for the non-participant")
        reports = [
            _report(inp, r, record, outcome.round_params[r])
            for r, record in enumerate(outcome.rounds)
        ]
        return FederatedStage(
            global_params=outcome.global_params.to(inp.init.dtype),
            local_params=outcome.local_params.to(inp.init.dtype),
            reports=reports,
            curve=[float(r["test_rmse"]) for r in outcome.rounds],
        )


def _report(
    inp: FederatedInputs, r: int, record: dict[str, Any], global_params: torch.Tensor
) -> RoundReport:
    by_node = {int(n["node"]): n for n in record["nodes"]}
    # a node that did not reply: why, as the ServerApp recorded it (`fl_engine.flower.seeded`)
    why = {int(i): k for k in PLANNED for i in record.get(k, [])}
    senders = sorted(i for i, n in by_node.items() if n["status"] == "trained")
    idx = torch.tensor(senders, dtype=torch.long)
    glob = global_params.to(inp.nodes.x.dtype).expand(len(senders), -1)
    after = dict(zip(senders, node_losses(glob, inp.nodes, idx, inp.mlp).tolist(), strict=True))
    reports = []
    for i in range(inp.nodes.n_nodes):
        n = by_node.get(i)
        status = why.get(i, "offline") if n is None else str(n["status"])
        before = None if n is None else float(n["loss_trained"])
        reports.append(
            NodeReport(
                node=i,
                status=status,
                rows=int(inp.nodes.sizes[i]),
                loss_before=before,
                loss_after=after.get(i, before if status == "local" else None),
            )
        )
    return RoundReport(round=r, n_updates=int(record["n_updates"]), nodes=reports)


def simulation_runtime() -> RuntimeFn:
    from fl_engine.flower.simulation import run_simulation_runtime

    return run_simulation_runtime


def deployment_runtime() -> RuntimeFn:
    """The deployment runtime (fl_engine/flower/deployment.py, written separately)."""
    from fl_engine.flower import deployment  # type: ignore[attr-defined,unused-ignore]

    fn: RuntimeFn = deployment.run_deployment_runtime
    return fn

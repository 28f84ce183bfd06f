"""The federation on Flower's deployment runtime (issue 13): a SuperLink and one SuperNode per
factory as real processes on loopback, each SuperNode with a long-lived ClientApp executor.

(a) with the same seed, partition, initial weights and minibatch order the deployed run ends with
the in-process engine's global model; (b) a SuperNode killed mid-run is reported dropped and the
run completes with the others; (c) every process a run started is gone afterwards.

Real processes and real data; skipped where Flower is not installed (`pip install -e .[flower]`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("flwr")

import torch
from flower_runs import leftovers, run_killing_after_round_1

from fl_engine.data import Runs
from fl_engine.experiment import ExperimentConfig, ExperimentResult, run_experiment
from fl_engine.flower.deployment import (
    APP_DIR,
    Deployment,
    _declared_config_keys,
    run_deployment_runtime,
)
from fl_engine.flower.spec import FlowerSpec
from fl_engine.flower.stage import FlowerStage

# 5 rounds, not 10: the in-process reference plus 10 deployed rounds took 264 s on the 2 busy
# cores here (the file must stay under ~4 minutes); 10 rounds matched to 1e-4 when run once.
NODES, ROUNDS = 4, 5


@pytest.fixture(scope="module")
def equivalence(
    runs: Runs, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[ExperimentResult, ExperimentResult, FlowerStage, list[Deployment]]:
    cfg = ExperimentConfig(seed=0, n_nodes=NODES, rounds=ROUNDS)
    started: list[Deployment] = []

    def runtime(spec: FlowerSpec, on_round: Any) -> Any:
        return run_deployment_runtime(spec, on_round, on_started=started.append)

    stage = FlowerStage(runtime, data_dir, tmp_path_factory.mktemp("deployed"))
    return run_experiment(runs, cfg), run_experiment(runs, cfg, None, stage), stage, started


def test_deployment_gives_the_in_process_global_model(
    equivalence: tuple[ExperimentResult, ExperimentResult, FlowerStage, list[Deployment]],
) -> None:
    ref, fl, stage, _ = equivalence
    assert torch.allclose(fl.params["federated"], ref.params["federated"], atol=1e-4, rtol=0)
    assert torch.allclose(fl.params["local"], ref.params["local"], atol=1e-4, rtol=0)
    assert fl.federated_curve == pytest.approx(ref.federated_curve, abs=1e-3)
    (outcome,) = stage.outcomes
    assert len(outcome.rounds) == len(outcome.seconds_per_round) == ROUNDS
    assert all(r["dropped"] == [] for r in outcome.rounds)
    assert outcome.startup_seconds > 0


def test_deployment_leaves_no_process_behind(
    equivalence: tuple[ExperimentResult, ExperimentResult, FlowerStage, list[Deployment]],
) -> None:
    (deployment,) = equivalence[3]
    seen = deployment.cluster.procs.seen
    # SuperLink, its SuperExec and ServerApp, and per node a SuperNode and an executor.
    assert len(seen) >= 1 + 2 * NODES
    assert deployment.alive_pids() == []
    assert leftovers(deployment.cluster.root) == []


@pytest.mark.skipif(
    "min-nodes" not in _declared_config_keys(APP_DIR),
    reason="the ServerApp declares no `min-nodes` run config: a round waits for all N nodes",
)
def test_a_killed_supernode_is_dropped_and_on_restart_joins_again(
    data_dir: Path, tmp_path: Path
) -> None:
    """Node 3 is killed after round 1 (a crashed machine) and started again once a round
    reported it dropped: the rounds without it say `dropped`, the round that finds it again says
    `joined`, and from then on it trains. (Sampling with a killed node: test_flower_participation.)"""
    nodes, rounds, victim = 4, 8, 3
    spec = FlowerSpec(
        seed=0, nodes=nodes, rounds=rounds, data_dir=data_dir, out_dir=tmp_path / "out"
    )
    records, outcome, deployment = run_killing_after_round_1(spec, victim, restart=True)
    assert deployment.alive_pids() == []
    assert leftovers(deployment.cluster.root) == []
    assert [r["round"] for r in records] == list(range(1, rounds + 1))
    assert records[0]["dropped"] == [] and records[0]["joined"] == []
    # Killed after round 1's record: round 2 normally misses it, but on a loaded machine the node
    # may have answered round 2 before the kill landed (seen in CI at load ~4).
    first = next(i for i, r in enumerate(records) if r["dropped"])
    assert first in (1, 2), records
    back = next((i for i, r in enumerate(records) if r["joined"]), None)
    assert back is not None, f"the restarted node did not join again in {rounds} rounds: {records}"
    assert records[back]["joined"] == [victim] and back > first
    for r in records[first:back]:
        assert r["dropped"] == [victim] and r["n_updates"] == nodes - 2  # non-participant 0 too
    for r in records[back:]:
        trained = sorted(n["node"] for n in r["nodes"] if n["status"] == "trained")
        assert r["dropped"] == [] and victim in trained and r["n_updates"] == nodes - 1
    assert all(r["joined"] == [] for r in records[back + 1 :])
    assert len(outcome.rounds) == rounds and torch.isfinite(outcome.global_params).all()


def test_ctrl_c_stops_every_process(data_dir: Path, tmp_path: Path) -> None:
    spec = FlowerSpec(seed=0, nodes=2, rounds=50, data_dir=data_dir, out_dir=tmp_path / "out")

    def interrupt(_round: int, _record: dict[str, Any]) -> None:
        raise KeyboardInterrupt

    started: list[Deployment] = []
    with pytest.raises(KeyboardInterrupt):
        run_deployment_runtime(spec, interrupt, on_started=started.append)
    (deployment,) = started
    assert deployment.alive_pids() == []
    assert leftovers(deployment.cluster.root) == []

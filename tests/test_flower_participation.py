"""Participation and privacy on Flower (issue 22): the seeded sampling and failed nodes give the
in-process run's rounds, a killed SuperNode is reported per round, DP-FedAvg with Flower's
fixed-clipping wrapper costs the epsilon the lab's in-process accountant reports, and Flower's
SecAgg+ gives FedAvg's model up to fixed-point error.

Three Flower runs in all (two simulations, one deployment), each reused by several assertions.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("flwr")
pytest.importorskip("ray")

import numpy as np
import torch
from dp_accounting import dp_event
from dp_accounting.rdp import rdp_privacy_accountant as rdp
from flower_runs import run_killing_after_round_1

from app.cli.train_flower import flower_summary
from fl_engine.data import Runs
from fl_engine.experiment import (
    ExperimentConfig,
    FederatedConfig,
    FederatedInputs,
    FederatedStage,
    Federation,
    _behaviours,
    federate_in_process,
    federated_inputs,
)
from fl_engine.features import prepare_protocol
from fl_engine.flower.participation import round_plans
from fl_engine.flower.settings import RunSettings
from fl_engine.flower.simulation import run_simulation_runtime
from fl_engine.flower.spec import FlowerOutcome, FlowerSpec
from fl_engine.flower.stage import FlowerStage, simulation_runtime
from fl_engine.lab.config import LabConfig
from fl_engine.lab.server_round import RoundServer
from fl_engine.local_training import NodeData
from fl_engine.model import MLPConfig, init_params

# 5 nodes: non-participant 0, node failing from round 2 (index 1), half of the rest sampled:
# 2 of 4 in round 1, 2 of 3 after (SecAgg+ needs 2 a round)
SAMPLED = {"n_nodes": 5, "rounds": 3, "sample_fraction": 0.5, "n_failed": 1, "failure_round": 1}


def _inputs(runs: Runs, cfg: ExperimentConfig) -> FederatedInputs:
    """The federated stage's inputs, built by the code `run_experiment` uses."""
    data = prepare_protocol(runs, cfg.seed, cfg.n_test_engines, cfg.cycle_input)
    return federated_inputs(data, cfg)[0]


def _statuses(stage: FederatedStage) -> list[list[str]]:
    return [[n.status for n in r.nodes] for r in stage.reports]


def test_the_plan_is_the_in_process_draw() -> None:
    """No Flower run: the seeded plan against the in-process Federation's own reports (tiny
    random data: the draw depends on the settings only)."""
    cfg = ExperimentConfig(seed=3, n_nodes=9, rounds=6, sample_fraction=0.4, n_failed=2,
                           failure_round=2)  # fmt: skip
    g = torch.Generator().manual_seed(0)
    data = NodeData.from_rows(torch.randn(90, 3, generator=g), torch.randn(90, generator=g),
                              [np.arange(i * 10, i * 10 + 10) for i in range(9)])  # fmt: skip
    mlp = MLPConfig(n_features=3, hidden=2)
    fed_cfg = FederatedConfig(sample_fraction=0.4, track_losses=False)
    federation = Federation(data, _behaviours(cfg)[0], init_params(mlp, 3), fed_cfg, mlp, seed=3)
    spec = FlowerSpec(seed=3, nodes=9, rounds=6, data_dir=Path(), out_dir=Path(),
                      sample_fraction=0.4, n_failed=2, failure_round=2)  # fmt: skip
    for plan in round_plans(RunSettings.from_config(spec.to_run_config())):
        status = {n.node: n.status for n in federation.run_round().nodes}
        assert list(plan.sampled) == sorted(i for i, s in status.items() if s == "trained")
        assert list(plan.not_sampled) == sorted(i for i, s in status.items() if s == "not_sampled")
        assert list(plan.offline) == sorted(i for i, s in status.items() if s == "offline")
        assert plan.local == (0,) and status[0] == "local"


@pytest.fixture(scope="module")
def secure(
    runs: Runs, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[FederatedStage, FederatedStage, FlowerOutcome, FederatedStage]:
    """In process vs Flower simulation + SecAgg+, sampled with a failed node; and in process
    one round (the model SecAgg+ must give after round 1)."""
    cfg = ExperimentConfig(seed=0, **SAMPLED)
    inputs = _inputs(runs, cfg)
    stage = FlowerStage(simulation_runtime(), data_dir, tmp_path_factory.mktemp("secagg"),
                        extra={"secure_aggregation": True})  # fmt: skip
    fl = stage(inputs)
    one = federate_in_process(_inputs(runs, cfg.model_copy(update={"rounds": 1})))
    return federate_in_process(inputs), fl, stage.outcomes[0], one


def test_sampling_and_failures_are_reported_as_in_process(
    secure: tuple[FederatedStage, FederatedStage, FlowerOutcome, FederatedStage],
) -> None:
    ref, fl, outcome, _ = secure
    assert _statuses(fl) == _statuses(ref)  # trained / not_sampled / offline / local per node
    assert [r.n_updates for r in fl.reports] == [r.n_updates for r in ref.reports] == [2, 2, 2]
    summary = flower_summary(outcome)  # what metrics.json["flower"] holds
    plans = round_plans(RunSettings.from_config(outcome_config(outcome)))
    assert summary["sampled"] == summary["trained"] == [list(p.sampled) for p in plans]
    assert summary["offline"] == [list(p.offline) for p in plans]
    assert [len(o) for o in summary["offline"]] == [0, 1, 1] and summary["dropped"] == [[]] * 3
    assert summary["not_sampled"] == [list(p.not_sampled) for p in plans]


def outcome_config(outcome: FlowerOutcome) -> dict[str, Any]:
    """The run config of the `secure` run (the plan depends on these keys only)."""
    spec = FlowerSpec(seed=0, nodes=5, rounds=3, data_dir=Path(), out_dir=Path(),
                      sample_fraction=0.5, n_failed=1, failure_round=1)  # fmt: skip
    return spec.to_run_config()


def test_secagg_plus_gives_the_fedavg_model_within_fixed_point_error(
    secure: tuple[FederatedStage, FederatedStage, FlowerOutcome, FederatedStage],
) -> None:
    ref, fl, outcome, one = secure
    # Round 1: the unmasked sum of 2^22-level fixed-point models over [-8, 8], weighted by rows
    # quantized to 2^-22: a few 1e-6 per weight from the FedAvg model.
    gap = (outcome.round_params[0] - one.global_params.to(torch.float32)).abs().max()
    assert float(gap) < 2e-5
    assert float(gap) > 0  # really went through the fixed-point ring
    # Later rounds train from the slightly different model (Adam amplifies it): close, not equal
    assert fl.curve == pytest.approx(ref.curve, rel=1e-3)
    first = outcome.rounds[0]
    assert first["secure_aggregation"] == "secagg+"
    # four SecAgg+ stages: public keys, shares, masked vectors, unmasking shares
    assert first["bytes_up"] > 2 * 4 * one.global_params.numel()


@pytest.fixture(scope="module")
def dp_run(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> FlowerOutcome:
    spec = FlowerSpec(seed=0, nodes=4, rounds=2, data_dir=data_dir,
                      out_dir=tmp_path_factory.mktemp("dp"), non_participant=None,
                      sample_fraction=0.5, dp_noise=1.1, dp_clip=0.5)  # fmt: skip
    return run_simulation_runtime(spec)


def test_dp_epsilon_on_flower_is_the_in_process_epsilon(dp_run: FlowerOutcome) -> None:
    delta = 1 / 4**1.1
    # recomputed with dp-accounting: 2 rounds of a cohort of 2 out of 4 without replacement,
    # replace-one neighbours (the mean moves by 2C/k), noise std z C / k on the mean: z / 2
    acc = rdp.RdpAccountant(neighboring_relation=rdp.NeighborRel.REPLACE_ONE)
    event = dp_event.SampledWithoutReplacementDpEvent(4, 2, dp_event.GaussianDpEvent(1.1 / 2))
    acc.compose(event, 2)
    expected = acc.get_epsilon(delta)
    # the lab's in-process run with the same settings (fixed cohort, as Flower samples)
    lab = LabConfig.model_construct(nodes=4, rounds=2, sample_fraction=0.5, dp_noise=1.1,
                                    dp_clip=0.5, dp_sampling="uniform", seed=0)  # fmt: skip
    server = RoundServer(lab, n_params=10, weight_scale=1.0)
    assert server.accountant is not None
    server.accountant.step(2)
    records = dp_run.rounds
    assert records[-1]["epsilon"] == pytest.approx(expected, rel=1e-9)
    assert records[-1]["epsilon"] == pytest.approx(server.epsilon, rel=1e-12)
    assert records[0]["epsilon"] < records[1]["epsilon"]
    for r in records:  # the noise Flower's wrapper added: z C / m on the mean of m = 2
        assert r["noise_std"] == pytest.approx(1.1 * 0.5 / 2)
        assert r["noise_multiplier"] == 1.1 and r["delta"] == pytest.approx(delta)
        assert r["n_updates"] == 2 and len(r["sampled"]) == 2
    assert math.isfinite(records[-1]["test_rmse"])


def test_a_killed_supernode_is_reported_per_round(
    runs: Runs, data_dir: Path, tmp_path: Path
) -> None:
    """Deployment, sampled: round 1 is the in-process round; node 3 is killed after it and is
    reported dropped in every later round that samples it, the others train."""
    nodes, rounds, victim = 4, 4, 3
    spec = FlowerSpec(seed=3, nodes=nodes, rounds=rounds, data_dir=data_dir,
                      out_dir=tmp_path / "out", sample_fraction=0.67)  # fmt: skip
    plans = round_plans(RunSettings.from_config(spec.to_run_config()))
    assert all(victim in p.sampled for p in plans[1:]), "pick a seed that samples the victim"
    records, outcome, deployment = run_killing_after_round_1(spec, victim)
    assert deployment.alive_pids() == []
    cfg = ExperimentConfig(seed=3, n_nodes=nodes, rounds=1, sample_fraction=0.67)
    one = federate_in_process(_inputs(runs, cfg))
    assert torch.allclose(outcome.round_params[0], one.global_params.float(), atol=1e-4)
    assert records[0]["dropped"] == [] and records[0]["sampled"] == list(plans[0].sampled)
    # as in test_flower_deployment: under load the victim may answer round 2 before it dies
    first = next((i for i, r in enumerate(records) if r["dropped"]), None)
    assert first in (1, 2), records
    for r, plan in zip(records[first:], plans[first:], strict=True):
        assert r["dropped"] == [victim] and r["sampled"] == list(plan.sampled)
        trained = sorted(n["node"] for n in r["nodes"] if n["status"] == "trained")
        assert trained == [i for i in plan.sampled if i != victim]
        assert r["n_updates"] == len(plan.sampled) - 1

"""The federation as a Flower App on Flower's simulation runtime (issue 13): with the same seed,
partition, initial weights, minibatch order and aggregation order it gives the in-process
engine's global model; `tycoon train --runtime flower-simulation` writes the same metrics.json.

Real Flower (Ray) and real data; skipped where Flower is not installed (`pip install -e .[flower]`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("flwr")
pytest.importorskip("ray")

import torch

from fl_engine.artifacts import metrics_of
from fl_engine.data import Runs
from fl_engine.experiment import ExperimentConfig, ExperimentResult, run_experiment
from fl_engine.flower.stage import FlowerStage, simulation_runtime

NODES, ROUNDS = 4, 10


@pytest.fixture(scope="module")
def both(
    runs: Runs, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[ExperimentResult, ExperimentResult, FlowerStage]:
    cfg = ExperimentConfig(seed=0, n_nodes=NODES, rounds=ROUNDS)
    stage = FlowerStage(simulation_runtime(), data_dir, tmp_path_factory.mktemp("flower"))
    return run_experiment(runs, cfg), run_experiment(runs, cfg, None, stage), stage


def test_flower_simulation_gives_the_in_process_global_model(
    both: tuple[ExperimentResult, ExperimentResult, FlowerStage],
) -> None:
    ref, fl, stage = both
    assert torch.allclose(fl.params["federated"], ref.params["federated"], atol=1e-4, rtol=0)
    # The non-participant trained alone alongside, from its own model kept in context.state.
    assert torch.allclose(fl.params["local"], ref.params["local"], atol=1e-4, rtol=0)
    assert fl.federated_curve == pytest.approx(ref.federated_curve, abs=1e-3)
    assert [n.status for r in fl.rounds for n in r.nodes] == [
        n.status for r in ref.rounds for n in r.nodes
    ]
    for fr, rr in zip(fl.rounds, ref.rounds, strict=True):
        assert fr.n_updates == rr.n_updates == NODES - 1
        for fn, rn in zip(fr.nodes, rr.nodes, strict=True):
            assert fn.rows == rn.rows
            assert fn.loss_before == pytest.approx(rn.loss_before, abs=1e-5)
            assert fn.loss_after == pytest.approx(rn.loss_after, abs=1e-5)
    (outcome,) = stage.outcomes
    assert len(outcome.rounds) == len(outcome.seconds_per_round) == ROUNDS
    # Exact payloads: one float32 [n_params] array per message (plus its .npy header and key).
    n_params = ref.params["federated"].numel()
    first = outcome.rounds[0]
    assert first["bytes_down"] == NODES * (first["bytes_up"] // (NODES - 1))
    assert first["bytes_up"] >= (NODES - 1) * 4 * n_params
    assert first["late_life_rmse"] > 0 and first["test_rmse"] == fl.federated_curve[0]


def _tycoon(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("tycoon", path=os.path.dirname(sys.executable)) or "tycoon"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout)


def test_tycoon_train_on_flower_simulation_writes_the_same_metrics(
    both: tuple[ExperimentResult, ExperimentResult, FlowerStage], tmp_path: Path, data_dir: Path
) -> None:
    out = tmp_path / "run"
    done = _tycoon(
        "train", "--runtime", "flower-simulation", "--nodes", "4", "--rounds", "2",
        "--data-dir", str(data_dir), "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    in_process = metrics_of(both[0])
    assert set(metrics) == set(in_process) | {"runtime", "flower"}
    assert metrics["runtime"] == "flower-simulation"
    assert len(metrics["federated_curve"]) == 2
    assert len(metrics["flower"]["seconds_per_round"]) == 2
    assert (out / "federated.safetensors").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--failed", "1"], "--failed 0 only"),
        (["--trainer", "loop"], "--trainer vectorized"),
        (["--sample-fraction", "0.5"], "--sample-fraction 1.0 only"),
    ],
)
def test_unsupported_options_are_refused_in_one_line(flags: list[str], message: str) -> None:
    done = _tycoon("train", "--runtime", "flower-simulation", *flags, timeout=60)
    assert done.returncode != 0
    assert message in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr

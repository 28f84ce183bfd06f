"""The game's factory models (window family) on Flower (issue 22): with the same seeds, deal,
minibatch stream, optimizer and aggregation order, Flower's simulation and deployment runtimes
give the in-process federated and local models, and the margins the nodes count are the
in-process ones.

One in-process reference and one run per runtime (module fixtures), each checked several ways.
The config is the game's window model made small where the family allows it: 380 of the 400
engines held out (20 training engines: 5 a factory, about the game's 4), 4 factories, 5 rounds,
one pooled epoch.
Real Flower and real data; skipped where Flower is not installed (`pip install -e .[flower]`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("flwr")
pytest.importorskip("ray")

import torch

from fl_engine.calibration import N_BINS
from fl_engine.data import Runs
from fl_engine.factory_models import (
    FactoryModels,
    FactoryModelsConfig,
    save_factory_models,
    train_factory_models,
)
from fl_engine.flower.deployment import Deployment, run_deployment_runtime
from fl_engine.flower.factory_stage import FlowerFactoryStage
from fl_engine.flower.families import family_config, family_describe, read_counts
from fl_engine.flower.spec import FlowerSpec
from fl_engine.flower.stage import simulation_runtime
from fl_engine.model_families import family_of

CONFIG = FactoryModelsConfig(
    seed=0, model="window", n_nodes=4, rounds=5, centralized_epochs=1, n_test_engines=380
)
Trained = tuple[FactoryModels, FlowerFactoryStage]


@pytest.fixture(scope="module")
def reference(runs: Runs) -> FactoryModels:
    return train_factory_models(runs, CONFIG)


@pytest.fixture(scope="module")
def simulated(runs: Runs, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    out = tmp_path_factory.mktemp("simulated")
    stage = FlowerFactoryStage(simulation_runtime(), "flower-simulation", data_dir, out)
    return train_factory_models(runs, CONFIG, federation=stage), stage


DEPLOYMENTS: list[Deployment] = []


@pytest.fixture(scope="module")
def deployed(runs: Runs, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    def runtime(spec: FlowerSpec, on_round: Any) -> Any:
        return run_deployment_runtime(spec, on_round, on_started=DEPLOYMENTS.append)

    out = tmp_path_factory.mktemp("deployed")
    stage = FlowerFactoryStage(runtime, "flower-deployment", data_dir, out)
    return train_factory_models(runs, CONFIG, federation=stage), stage


@pytest.mark.parametrize("runtime", ["simulated", "deployed"])
def test_flower_trains_the_in_process_factory_models(
    runtime: str, reference: FactoryModels, request: pytest.FixtureRequest
) -> None:
    fl, stage = request.getfixturevalue(runtime)
    ref = reference
    assert torch.equal(fl.params["centralized"], ref.params["centralized"])  # in process, both
    for name in ("federated", "local"):  # local: [4, n_params], each factory's own model
        assert fl.params[name].shape == ref.params[name].shape
        assert torch.allclose(fl.params[name], ref.params[name], atol=1e-4, rtol=0)
    for measure in ("rmse", "late_life_rmse", "capped_rmse"):
        assert fl.metrics[measure]["federated"] == pytest.approx(
            ref.metrics[measure]["federated"], abs=1e-4
        )
        assert fl.metrics[measure]["local"] == pytest.approx(
            ref.metrics[measure]["local"], abs=1e-4
        )
    assert fl.metrics["federated_curve"] == pytest.approx(ref.metrics["federated_curve"], abs=1e-4)
    assert fl.metrics["trained_on"] == ref.metrics["trained_on"]
    assert fl.metrics["trained_row_counts"] == ref.metrics["trained_row_counts"]
    assert (ref.metrics["runtime"], fl.metrics["runtime"]) == ("inprocess", stage.name)
    (outcome,) = stage.outcomes
    assert [r["round"] for r in outcome.rounds] == list(range(1, CONFIG.rounds + 1))
    assert all(len(r["nodes"]) == CONFIG.n_nodes for r in outcome.rounds)  # all trained, all rounds
    # the server's own score of each round's global model is the in-process curve
    curve = [r["test_rmse"] for r in outcome.rounds]
    assert curve == pytest.approx(ref.metrics["federated_curve"], abs=1e-4)


@pytest.mark.parametrize("runtime", ["simulated", "deployed"])
def test_the_nodes_counts_give_the_in_process_margins(
    runtime: str, reference: FactoryModels, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    fl, stage = request.getfixturevalue(runtime)
    ref = reference
    assert fl.calibration == ref.calibration  # every margin, level, window, method and count
    federated, local = read_counts(stage.out_dir)  # what the nodes sent: one histogram each
    assert local is not None
    assert federated.shape == local.shape == (CONFIG.n_nodes, N_BINS)
    assert int(federated.sum()) == ref.calibration.federated.rows  # the server's sum
    assert local.sum(1).tolist() == [c.rows for c in ref.calibration.local]
    save_factory_models(fl, tmp_path)
    doc = json.loads((tmp_path / "factory_models.json").read_text())
    assert doc["metrics"]["runtime"] == stage.name


def test_the_deployment_leaves_no_process_behind(deployed: Trained) -> None:
    assert DEPLOYMENTS
    assert all(d.alive_pids() == [] for d in DEPLOYMENTS)


def test_a_family_travels_in_run_config() -> None:
    for name in ("window", "ff09"):
        describe = family_of(name).describe()
        text = family_config(describe)
        assert '"' not in text  # `flwr run --run-config` takes no double quote in a value
        assert family_describe(text) == describe


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["train-game-models", "--runtime", "flower-simulation", "--calibration", "cross-fit"],
            "calibrate in-sample only",
        ),
        (["train", "--model", "window", "--failed", "2"], "no --partition, --sample-fraction"),
        (["train", "--model", "window", "--dp-noise", "1"], "takes no --deadline, --dp-*"),
        (["train", "--model", "window", "--secure-aggregation"], "or --secure-aggregation"),
        (["train", "--model", "window", "--deadline", "5"], "takes no --deadline"),
    ],
)
def test_what_cannot_be_made_equivalent_is_refused_in_one_line(
    args: list[str], message: str
) -> None:
    from typer.testing import CliRunner

    from app.cli import app

    done = CliRunner().invoke(app, args)  # in process: a refusal comes before any training
    assert done.exit_code == 2
    assert message in " ".join(done.output.split())  # rich wraps at the terminal width
    assert len(done.output.strip().splitlines()) == 1 and "Traceback" not in done.output

"""Shared fixtures with real parts: the real data, real training, real trained models.

Data comes from $TYCOON_DATA_DIR when set (CI points it at the full set in ../shared), else from
the embedded FD001/FD003 files. The game's default models are the ones shipped in data/models
when they were made from this data (no training); otherwise, and for the FF09 experiment, a
session fixture trains once, says so on the terminal (how long it took), and turns a failure
into one clear message instead of an opaque error in every test that uses it.
"""

from __future__ import annotations

import io
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import torch

from fl_engine.data import Runs, load_runs, resolve_data_dir
from fl_engine.features import ProtocolData, prepare_protocol

torch.set_num_threads(2)

T = TypeVar("T")
Training = Callable[[str, Callable[[], T]], T]


def _say(config: pytest.Config, message: str) -> None:
    """A line on the terminal even under -q and output capture (training takes a while)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    if capture is None:
        reporter.write_line(message)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(message)


@pytest.fixture(scope="session")
def training(pytestconfig: pytest.Config) -> Training[Any]:
    """`training(what, train)`: run `train()`, telling the terminal what and for how long; a
    failure fails the fixture with one line naming what was being trained and why."""

    def run(what: str, train: Callable[[], T]) -> T:
        _say(pytestconfig, f"[session fixture] training {what} (once per test session) ...")
        start = time.perf_counter()
        try:
            result = train()
        except Exception as exc:
            failure = f"training {what} failed: {exc!r}"
        else:
            seconds = time.perf_counter() - start
            _say(pytestconfig, f"[session fixture] trained {what} in {seconds:.0f} s")
            return result
        _say(pytestconfig, f"[session fixture] {failure}")
        pytest.fail(failure, pytrace=False)

    return run


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return resolve_data_dir()


@pytest.fixture(scope="session")
def runs(data_dir: Path) -> Runs:
    return load_runs(data_dir)


@pytest.fixture(scope="session")
def protocol(runs: Runs) -> ProtocolData:
    return prepare_protocol(runs, seed=0)


@pytest.fixture(scope="session")
def artifacts_dir(
    tmp_path_factory: pytest.TempPathFactory, runs: Runs, training: Training[Any]
) -> Path:
    """Models trained once per test session by the real pipeline (seed 0, the default settings)."""
    from fl_engine.artifacts import save_artifacts
    from fl_engine.experiment import ExperimentConfig, run_experiment
    from fl_engine.threads import torch_threads

    def train() -> Any:
        # one torch thread: ~2 s; the session's 2 threads took ~60 s on a busy 2-core machine
        with torch_threads(1):
            return run_experiment(runs, ExperimentConfig(seed=0))

    out = tmp_path_factory.mktemp("artifacts")
    result = training("the FF09 experiment (seed 0)", train)
    save_artifacts(result, out)
    return out


@pytest.fixture(scope="session")
def game_artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the session's game models are cached (`tycoon --artifacts` can point here)."""
    return tmp_path_factory.mktemp("game-models")


@pytest.fixture(scope="session")
def window_models(runs: Runs, game_artifacts_dir: Path, training: Training[Any]):
    """The game's default factory models (window family, seed 0), cached where the game looks
    for them: the shipped ones copied there when they were made from this data, else trained once
    per test session by the real pipeline."""
    from rich.console import Console

    from app.bridge import SHIPPED_MODELS_DIR, models_dir, shipped_models
    from fl_engine.factory_models import (
        FactoryModelsConfig,
        load_factory_models,
        save_factory_models,
        train_factory_models,
    )

    folder = models_dir(game_artifacts_dir, "window", 0)
    quiet = Console(file=io.StringIO())
    if (
        shipped_models(SHIPPED_MODELS_DIR, runs, FactoryModelsConfig(seed=0, model="window"), quiet)
        is not None
    ):
        shutil.copytree(models_dir(SHIPPED_MODELS_DIR, "window", 0), folder)
        return load_factory_models(folder)
    models = training(
        "the window factory models (seed 0; the shipped ones were made from other data), ~1 min",
        lambda: train_factory_models(runs, FactoryModelsConfig(seed=0, model="window")),
    )
    save_factory_models(models, folder)
    return models


@pytest.fixture(scope="session")
def game_models(window_models, game_artifacts_dir: Path, runs: Runs):
    """The game's held-out engines with every model's predictions, from `window_models`."""
    from app.bridge import game_models_for

    return game_models_for(runs, game_artifacts_dir, 0, "window")


@pytest.fixture(scope="session")
def live_server(game_models, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real uvicorn serving the app with the real models, in a thread, on a port the OS picked,
    saving its games in a file of its own.

    Yields "127.0.0.1:PORT". Every websocket connection is its own game, so tests share it.
    """
    from servers import running_server

    database = tmp_path_factory.mktemp("live-server") / "games.sqlite3"
    with running_server(game_models, database=database) as base:
        yield base


# Test modules that start Flower runtimes (Ray simulation, or a SuperLink and SuperNodes as
# processes): 6.5 minutes together on 2 cores at load 2-6 (`pytest --durations=0`, issue 22), over
# the 5 minutes the Flower tests may add to the main suite. They are marked `flower_slow`
# (pyproject), deselected by `make test`'s main pytest call and run by it as a stage of their own
# after the main suite. tests/test_flower_patches.py (no processes, seconds) stays in the main suite.
FLOWER_SLOW = {
    "test_flower_deployment.py",
    "test_flower_families.py",
    "test_flower_hosts.py",
    "test_flower_participation.py",
    "test_flower_simulation.py",
    "test_lab_flower.py",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in FLOWER_SLOW:
            item.add_marker(pytest.mark.flower_slow)

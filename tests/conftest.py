"""Shared fixtures with real parts: the real data, real training, real trained models.

Data comes from $TYCOON_DATA_DIR when set (CI points it at the full set in ../shared), else from
the embedded FD001/FD003 files.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from fl_engine.data import Runs, load_runs, resolve_data_dir
from fl_engine.features import ProtocolData, prepare_protocol

torch.set_num_threads(2)


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
def artifacts_dir(tmp_path_factory: pytest.TempPathFactory, runs: Runs) -> Path:
    """Models trained once per test session by the real pipeline (seed 0, the default settings)."""
    from fl_engine.artifacts import save_artifacts
    from fl_engine.experiment import ExperimentConfig, run_experiment

    out = tmp_path_factory.mktemp("artifacts")
    save_artifacts(run_experiment(runs, ExperimentConfig(seed=0)), out)
    return out


@pytest.fixture(scope="session")
def game_artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the session's game models are cached (`tycoon --artifacts` can point here)."""
    return tmp_path_factory.mktemp("game-models")


@pytest.fixture(scope="session")
def window_models(runs: Runs, game_artifacts_dir: Path):
    """The game's default factory models (window family, seed 0): trained once per test session
    by the real pipeline and cached where the game looks for them."""
    from app.bridge import models_dir
    from fl_engine.factory_models import (
        FactoryModelsConfig,
        save_factory_models,
        train_factory_models,
    )

    models = train_factory_models(runs, FactoryModelsConfig(seed=0, model="window"))
    save_factory_models(models, models_dir(game_artifacts_dir, "window", 0))
    return models


@pytest.fixture(scope="session")
def game_models(window_models, game_artifacts_dir: Path, runs: Runs):
    """The game's held-out engines with every model's predictions, from `window_models`."""
    from app.bridge import game_models_for

    return game_models_for(runs, game_artifacts_dir, 0, "window")


@pytest.fixture(scope="session")
def live_server(game_models) -> Iterator[str]:
    """A real uvicorn serving the app with the real models, in a thread, on a port the OS picked.

    Yields "127.0.0.1:PORT". Every websocket connection is its own game, so tests share it.
    """
    import uvicorn

    from app.web.server import create_app, uvicorn_config
    from app.web.settings import Settings

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = Settings(port=port)
    server = uvicorn.Server(
        uvicorn_config(create_app(settings, game_models), settings, log_level="warning")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    give_up = time.monotonic() + 30.0
    while not server.started:
        if not thread.is_alive() or time.monotonic() > give_up:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30.0)
    sock.close()

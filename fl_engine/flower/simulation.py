"""The federated stage on Flower's simulation runtime (Ray), in this process.

Flower's public `flwr.simulation.run_simulation` gives the apps an empty run config, so this
calls the function it wraps (`flwr.simulation.run_simulation._run_simulation`, private in 1.41)
with a `Run` carrying the spec as override config and the app directory (`flower-app/`) as an
app: the nodes then read `context.run_config` fused from `flower-app/pyproject.toml`'s defaults
and the overrides, exactly as `flwr run flower-app` would hand it to them, and the ServerApp
gets the same. The ClientApp is imported by module name (`fl_engine.flower.client_app`), so Ray
pickles it by reference: one defined in `__main__` would be pickled by value on every message
(4x slower, see ../shared/notes/flower-1.41.md).

Each node (Ray task) gets 1 CPU and 1 torch thread; the Ray cluster gets at most as many CPUs as
the machine has, so a run of 80 nodes reuses a few actors that keep their cached data.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fl_engine.flower.spec import FlowerOutcome, FlowerSpec, OnRound

APP_DIR = Path(__file__).resolve().parents[2] / "flower-app"

# Set for the run only (Ray's processes inherit them), restored afterwards.
QUIET_ENV = {
    "FLWR_TELEMETRY_ENABLED": "0",
    "FLWR_DISABLE_UPDATE_CHECK": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_DEDUP_LOGS": "1",
    "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


@contextmanager
def _scoped_env(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def _quiet_flower(level: int = logging.ERROR) -> Iterator[None]:
    logger = logging.getLogger("flwr")
    saved = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(saved)


def backend_config(spec: FlowerSpec, cpus: int | None = None) -> dict[str, Any]:
    """Ray: one CPU per node (so at most `cpus` nodes train at once), no GPU, no dashboard."""
    n_cpus = max(1, min(cpus or os.cpu_count() or 1, spec.nodes))
    return {
        "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
        "init_args": {
            "num_cpus": n_cpus,
            "num_gpus": 0,
            "include_dashboard": False,
            "logging_level": "ERROR",
            "log_to_driver": True,
        },
    }


def run_simulation_runtime(
    spec: FlowerSpec, on_round: OnRound | None = None, cpus: int | None = None
) -> FlowerOutcome:
    """Run `spec` on Flower's simulation runtime; `on_round(round, record)` after each round."""
    from flwr.app import Context, RecordDict
    from flwr.common.config import get_fused_config_from_dir
    from flwr.common.constant import SUPERLINK_NODE_ID
    from flwr.simulation.run_simulation import _run_simulation
    from flwr.supercore.constant import NOOP_FEDERATION_ID
    from flwr.supercore.run import Run
    from flwr.supercore.task_identity import TaskIdentity
    from flwr.supercore.telemetry import EventType

    from fl_engine.flower import outputs, server_app
    from fl_engine.flower.client_app import app as client_app

    override: dict[str, Any] = dict(spec.to_run_config())
    run = Run.create_empty(run_id=secrets.randbits(63))
    run.primary_task_id = secrets.randbits(63)
    run.federation_id = NOOP_FEDERATION_ID
    run.override_config = override
    TaskIdentity.task_id = 1
    TaskIdentity.run_id = run.run_id
    TaskIdentity.node_id = SUPERLINK_NODE_ID
    server_context = Context(
        run_id=run.run_id,
        node_id=0,
        node_config={},
        state=RecordDict(),
        run_config=get_fused_config_from_dir(APP_DIR, override),
    )
    out_key = str(spec.out_dir)
    if on_round is not None:
        server_app.ROUND_LISTENERS[out_key] = on_round
    t0 = time.time()
    try:
        with _scoped_env(QUIET_ENV), _quiet_flower():
            _run_simulation(
                num_supernodes=spec.nodes,
                exit_event=EventType.PYTHON_API_RUN_SIMULATION_LEAVE,
                client_app=client_app,
                server_app=server_app.app,
                backend_name="ray",
                backend_config=backend_config(spec, cpus),
                server_app_context=server_context,
                app_dir=str(APP_DIR),
                run=run,
                is_app=True,
            )
    finally:
        server_app.ROUND_LISTENERS.pop(out_key, None)
    rounds = outputs.read_rounds(spec.out_dir)
    startup = rounds[0]["started_at"] - t0 if rounds else time.time() - t0
    return outputs.read_outcome(spec.out_dir, startup)

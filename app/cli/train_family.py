"""Model families on every runtime (issue 22): `tycoon train-game-models --runtime ...` and
`tycoon train --model window`.

Both train the game's factory models (`fl_engine.factory_models`): a centralized reference in
process, and the federated and every factory's local model either in process or on Flower's
nodes (`fl_engine.flower.factory_stage`), with the same numbers either way. `tycoon train --model
window` is that training with `tycoon train`'s --nodes/--rounds/--local-epochs/--seed, written
to OUT (metrics.json and the models); the FF09 experiment's other options (partitions,
participation, failures, the extra cycle input) are FF09's and refused for another family in one
line. Flower failures are one line too, never a traceback.
"""

from __future__ import annotations

import json
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.cli.common import console, fail, first_error

if TYPE_CHECKING:
    from fl_engine.factory_federation import FederationRunner
    from fl_engine.factory_models import FactoryModels, FactoryModelsConfig

RUNTIMES = ("inprocess", "flower-simulation", "flower-deployment")


def check_runtime(runtime: str, config: FactoryModelsConfig) -> None:
    """Fail in one line, before any data is loaded, where `runtime` cannot train `config`."""
    import importlib.util

    if runtime not in RUNTIMES:
        fail(f"unknown --runtime {runtime!r}; expected one of {', '.join(RUNTIMES)}")
    if runtime == "inprocess":
        return
    if importlib.util.find_spec("flwr") is None:
        fail(f"--runtime {runtime} needs Flower: pip install -e .[flower]")
    from fl_engine.factory_federation import unsupported_on_runner

    why = unsupported_on_runner(config)
    if why:
        fail(why)


@contextmanager
def factory_runner(runtime: str, data_path: Path) -> Iterator[FederationRunner | None]:
    """The runner for `train_factory_models` (None: in process); the Flower run's files live in
    a temporary folder, removed afterwards. SIGTERM stops the run like Ctrl-C."""
    if runtime == "inprocess":
        yield None
        return
    from fl_engine.flower.factory_stage import FlowerFactoryStage
    from fl_engine.flower.stage import deployment_runtime, simulation_runtime

    signal.signal(signal.SIGTERM, _interrupt)
    fn = simulation_runtime() if runtime == "flower-simulation" else deployment_runtime()
    out = Path(tempfile.mkdtemp(prefix="tycoon-factory-flower-"))
    try:
        yield FlowerFactoryStage(fn, runtime, data_path, out)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def train_models(data_dir: Path | None, config: FactoryModelsConfig, runtime: str) -> FactoryModels:
    """`train_factory_models` on `runtime` with progress on the console: the runtime checked and
    the data loaded first; a bad data folder or a failure on Flower is one line."""
    from app.reporting import stage_progress
    from fl_engine.data import DataError, load_runs, resolve_data_dir
    from fl_engine.factory_models import train_factory_models

    check_runtime(runtime, config)
    try:
        data_path = resolve_data_dir(data_dir)
        runs = load_runs(data_path)
    except DataError as exc:
        fail(str(exc))
    try:
        with stage_progress(console) as report, factory_runner(runtime, data_path) as runner:
            return train_factory_models(runs, config, report, federation=runner)
    except (ValueError, RuntimeError, TimeoutError, OSError) as exc:
        if runtime == "inprocess":
            raise
        fail(f"{runtime}: {first_error(exc) if isinstance(exc, ValueError) else exc}")


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM as Ctrl-C: unwind, so the Flower processes are stopped on the way out."""
    raise KeyboardInterrupt


def family_problem(
    model: str, seeds: str | None, partition: str, sample_fraction: float, failed: int, cycle: bool
) -> str | None:
    """Why `tycoon train --model MODEL` cannot take these FF09-only options, or None."""
    from app.bridge import MODEL_FAMILIES

    if model not in MODEL_FAMILIES:
        return f"unknown --model {model!r}; expected one of {', '.join(MODEL_FAMILIES)}"
    if model == "ff09":
        return None
    if seeds:
        return f"--model {model} trains one seed at a time (--seed), not --seeds"
    if partition != "iid" or sample_fraction != 1.0 or failed or cycle:
        return (
            f"--model {model} trains the game's factory models: IID factories, all of them every "
            "round (no --partition, --sample-fraction, --failed or --cycle-input)"
        )
    return None


def train_family(
    out: Path,
    model: str,
    seed: int,
    data_dir: Path | None,
    settings: dict[str, Any],
    runtime: str,
) -> None:
    """`tycoon train --model MODEL`: the factory models with `settings` (nodes, rounds, local
    epochs, trainer), metrics.json (with `runtime`) and the model files in OUT."""
    from pydantic import ValidationError

    from fl_engine.factory_models import FactoryModelsConfig, save_factory_models

    try:
        config = FactoryModelsConfig(seed=seed, model=model, **settings)
    except ValidationError as exc:
        fail(f"invalid training settings: {first_error(exc)}")
    models = train_models(data_dir, config, runtime)
    out.mkdir(parents=True, exist_ok=True)
    save_factory_models(models, out)
    (out / "metrics.json").write_text(json.dumps(models.metrics, indent=1))
    m = models.metrics
    console.print(
        f"{model} ({runtime}): test RMSE federated {m['rmse']['federated']:.2f}, centralized "
        f"{m['rmse']['centralized']:.2f}; late-life federated {m['late_life_rmse']['federated']:.2f}"
        f"; margin federated {models.calibration.federated.margin:+.2f}; wrote {out}",
        highlight=False,
    )

"""`tycoon train`: the FF09 protocol's models (naive, centralized, local, federated).

On a Flower runtime, SIGTERM stops the command like Ctrl-C (the deployment stops every process it
started on the way out; a SIGKILLed command's processes die with it: `fl_engine.flower.processes`),
and a deployment that fails (a dead SuperLink) is one line naming it, not a traceback.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli.common import (
    CALIBRATIONS,
    CalibrationOption,
    DataDirOption,
    app,
    check_choice,
    console,
    fail,
    first_error,
    parse_seeds,
)
from app.cli.train_flower import Deadline, DpClip, DpDelta, DpNoise, SecureAggregation

if TYPE_CHECKING:
    from rich.table import Table

    from fl_engine.experiment import ExperimentConfig


@app.command()
def train(
    out: Annotated[
        Path, typer.Option(help="directory for metrics.json and the .safetensors models")
    ] = Path("artifacts"),
    seed: Annotated[
        int, typer.Option(min=0, help="seed of the engine split, partition and training")
    ] = 0,
    seeds: Annotated[
        str | None,
        typer.Option(help="several seeds, e.g. 0-4: mean and spread; one subdirectory each"),
    ] = None,
    data_dir: DataDirOption = None,
    rounds: Annotated[int, typer.Option(min=1)] = 10,
    nodes: Annotated[int, typer.Option(min=1, help="simulated factories")] = 80,
    partition: Annotated[str, typer.Option(help="iid, unbalanced or fault_mode")] = "iid",
    local_epochs: Annotated[int, typer.Option(min=1)] = 1,
    sample_fraction: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="share of nodes asked each round")
    ] = 1.0,
    failed: Annotated[int, typer.Option(min=0, help="nodes that fail")] = 0,
    failure_round: Annotated[
        int, typer.Option(min=0, help="first round the failed nodes are down")
    ] = 5,
    trainer: Annotated[
        str, typer.Option(help="vectorized (default) or loop, the per-node reference")
    ] = "vectorized",
    cycle_input: Annotated[
        bool, typer.Option(help="add the cycle count as a 17th model input (not FF09)")
    ] = False,
    runtime: Annotated[
        str,
        typer.Option(
            help="federated stage: inprocess (default), flower-simulation or flower-deployment"
        ),
    ] = "inprocess",
    model: Annotated[
        str,
        typer.Option(
            help="ff09 (default): the FF09 experiment; window: the game's factory models "
            "(centralized, federated, every factory alone) with these nodes, rounds and runtime"
        ),
    ] = "ff09",
    deadline: Deadline = None,
    dp_noise: DpNoise = 0.0,
    dp_clip: DpClip = None,
    dp_delta: DpDelta = None,
    secure_aggregation: SecureAggregation = False,
) -> None:
    """Train the naive, centralized, local and federated models; print their test RMSE."""

    import numpy as np

    from app.reporting import stage_progress
    from fl_engine.artifacts import save_artifacts
    from fl_engine.data import DataError, load_runs, resolve_data_dir
    from fl_engine.experiment import MODELS, ExperimentConfig, run_experiment

    seed_list = parse_seeds(seeds) if seeds else [seed]
    if model != "ff09":  # another family: app/cli/train_family.py
        from app.cli.train_family import family_problem, train_family

        why = family_problem(model, seeds, partition, sample_fraction, failed, cycle_input)
        private = dp_noise or dp_clip is not None or dp_delta is not None or secure_aggregation
        if why is None and (private or deadline is not None):
            why = f"--model {model} takes no --deadline, --dp-* or --secure-aggregation (ff09 only)"
        if why:
            fail(why)
        asked = {"n_nodes": nodes, "rounds": rounds, "local_epochs": local_epochs}
        train_family(out, model, seed, data_dir, {**asked, "trainer": trainer}, runtime)
        return
    try:
        configs = [
            ExperimentConfig(
                seed=s,
                rounds=rounds,
                n_nodes=nodes,
                partition=partition,
                local_epochs=local_epochs,
                sample_fraction=sample_fraction,
                n_failed=failed,
                failure_round=failure_round,
                trainer=trainer,
                cycle_input=cycle_input,
            )
            for s in seed_list
        ]
    except ValueError as exc:
        fail(f"invalid training settings: {first_error(exc)}")
    if runtime not in RUNTIMES:
        fail(f"unknown --runtime {runtime!r}; expected one of {', '.join(RUNTIMES)}")
    from app.cli.train_flower import flower_options, flower_stage, flower_summary

    extra = flower_options(runtime, configs[0], deadline, dp_noise, dp_clip, dp_delta,
                           secure_aggregation)  # fmt: skip
    if isinstance(extra, str):
        fail(extra)
    if runtime != "inprocess":
        _check_flower(runtime, configs[0])
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        data_path = resolve_data_dir(data_dir)
        runs = load_runs(data_path)
    except DataError as exc:
        fail(str(exc))
    console.print(f"data: {data_path} ({runs.n_engines} engines, {runs.n_rows:,} rows)")
    all_metrics = []
    with stage_progress(console) as report:
        for cfg in configs:

            def progress(stage: str, done: int, total: int, seed: int = cfg.seed) -> None:
                report(f"seed {seed}: {stage}", done, total)

            target = out / f"seed-{cfg.seed}" if len(configs) > 1 else out
            stage = (
                flower_stage(runtime, data_path, target, extra) if runtime != "inprocess" else None
            )
            try:
                result = run_experiment(runs, cfg, progress, stage)
            except ValueError as exc:
                fail(str(exc))
            except RuntimeError as exc:
                from fl_engine.flower.cluster import DeploymentError

                if not isinstance(exc, DeploymentError):
                    raise
                fail(str(exc))
            metrics = save_artifacts(result, target)
            metrics["runtime"] = runtime
            if stage is not None and stage.outcomes:
                metrics["flower"] = flower_summary(stage.outcomes[-1])
                for r in stage.outcomes[-1].rounds:  # a SuperNode that did not answer
                    if r.get("dropped"):
                        gone = ", ".join(str(n) for n in r["dropped"])
                        console.print(f"round {r['round']}: node(s) {gone} dropped (no reply)")
            (target / "metrics.json").write_text(json.dumps(metrics, indent=1))
            all_metrics.append(metrics)
    console.print(_table(all_metrics, seed_list))
    if len(configs) > 1:
        summary = {
            "seeds": seed_list,
            **{
                f"{m}_rmse": {"mean": float(np.mean(v)), "std": float(np.std(v)), "values": v}
                for m in MODELS
                for v in [[mm[f"{m}_rmse"] for mm in all_metrics]]
            },
            "late_life_rmse": {
                m: {"mean": float(np.mean(v)), "std": float(np.std(v)), "values": v}
                for m in MODELS
                for v in [[mm["late_life_rmse"][m] for mm in all_metrics]]
            },
        }
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
    console.print(f"wrote {out}")


RUNTIMES = ("inprocess", "flower-simulation", "flower-deployment")


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM as Ctrl-C: unwind, so the Flower processes are stopped on the way out."""
    raise KeyboardInterrupt


def _check_flower(runtime: str, cfg: ExperimentConfig) -> None:
    """Fail with one line, before any data is loaded, where a Flower runtime cannot run `cfg`."""
    import importlib.util

    if importlib.util.find_spec("flwr") is None:
        fail(f"--runtime {runtime} needs Flower: pip install -e .[flower]")
    from fl_engine.flower.stage import unsupported

    why = unsupported(cfg)
    if why:
        fail(why)
    if (
        runtime == "flower-deployment"
        and importlib.util.find_spec("fl_engine.flower.deployment") is None
    ):
        fail(
            "--runtime flower-deployment is not available: fl_engine/flower/deployment.py is missing"
        )


def _table(metrics: list[dict[str, Any]], seeds: list[int]) -> Table:
    import numpy as np
    from rich.table import Table

    from fl_engine.experiment import MODELS

    many = len(metrics) > 1
    table = Table(
        title=f"Test RMSE in cycles ({'mean ± std over seeds ' + ','.join(map(str, seeds)) if many else f'seed {seeds[0]}'})"
    )
    table.add_column("model")
    table.add_column("RMSE", justify="right")
    table.add_column("late-life RMSE (RUL ≤ 50)", justify="right")
    table.add_column("PHM08 score", justify="right")
    for m in MODELS:
        rm = np.array([x[f"{m}_rmse"] for x in metrics])
        late = np.array([x["late_life_rmse"][m] for x in metrics])
        phm = np.array([x["phm08_score"][m] for x in metrics])
        fmt = (lambda a: f"{a.mean():.2f} ± {a.std():.2f}") if many else (lambda a: f"{a[0]:.2f}")
        table.add_row(
            m, fmt(rm), fmt(late), f"{np.median(phm):,.0f}" + (" (median)" if many else "")
        )
    local = np.array([x["local_all_nodes_rmse"]["mean"] for x in metrics])
    lo = min(x["local_all_nodes_rmse"]["min"] for x in metrics)
    hi = max(x["local_all_nodes_rmse"]["max"] for x in metrics)
    table.caption = f"local = the non-participant node; every node alone: mean {local.mean():.1f}, range {lo:.1f}-{hi:.1f}"
    return table


@app.command("train-game-models")
def train_game_models(
    out: Annotated[
        Path,
        typer.Option(
            help="writes OUT/game-MODEL-seed-SEED; data/models is the set shipped with the game"
        ),
    ] = Path("data/models"),
    model: Annotated[str, typer.Option(help="model family: window or ff09")] = "window",
    seed: Annotated[int, typer.Option(min=0, help="seed of the split and the training")] = 0,
    data_dir: DataDirOption = None,
    calibration: CalibrationOption = None,
    runtime: Annotated[
        str,
        typer.Option(
            help="where the federated and local models train: inprocess (default), "
            "flower-simulation or flower-deployment (the same models)"
        ),
    ] = "inprocess",
) -> None:
    """Train the game's factory models (every factory, federated, centralized) and save them.

    With the defaults it regenerates the models shipped in data/models (they spare the first serve ~45 s of training); it always trains, even where OUT already has them.
    """
    from app.bridge import MODEL_FAMILIES, models_dir
    from app.cli.train_family import train_models
    from fl_engine.factory_models import FactoryModelsConfig, save_factory_models

    if model not in MODEL_FAMILIES:
        fail(f"unknown model family {model!r}; expected one of {', '.join(MODEL_FAMILIES)}")
    if out.exists() and not out.is_dir():
        fail(f"--out {out} is a file, not a directory")
    check_choice("--calibration", calibration, CALIBRATIONS)
    method = calibration or "in-sample"
    config = FactoryModelsConfig(seed=seed, model=model, calibration=method)
    models = train_models(data_dir, config, runtime)
    folder = models_dir(out, model, seed, method)
    save_factory_models(models, folder)
    seconds = models.metrics["seconds"]
    late = models.metrics["late_life_rmse"]
    console.print(
        "seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()), highlight=False
    )
    console.print(
        f"late-life RMSE: centralized {late['centralized']:.2f}, "
        f"federated {late['federated']:.2f}; wrote {folder}",
        highlight=False,
    )
    c = models.calibration
    local = sorted(m.margin for m in c.local)
    console.print(
        f"margins ({method}, {c.federated.level:.0%} of residuals at true RUL <= "
        f"{c.federated.window:g}): centralized {c.centralized.margin:+.2f}, federated "
        f"{c.federated.margin:+.2f}, local median {local[len(local) // 2]:+.2f}",
        highlight=False,
    )

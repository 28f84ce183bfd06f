"""The `tycoon` command line: train models, check data, serve the game.

torch, numpy and the engine are imported inside the commands that use them, so `tycoon --help`
and argument errors answer at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    from rich.table import Table

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Turbofan Tycoon: federated learning you can play.",
)
data_app = typer.Typer(no_args_is_help=True, help="Inspect the C-MAPSS data directory.")
app.add_typer(data_app, name="data")
console = Console()
err = Console(stderr=True)

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="C-MAPSS directory (default: $TYCOON_DATA_DIR, then the embedded FD001/FD003)",
    ),
]


def fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(2)


def parse_seeds(text: str) -> list[int]:
    """'0-4' -> [0, 1, 2, 3, 4]; '1,3,7' -> [1, 3, 7]."""
    try:
        seeds: list[int] = []
        for part in text.split(","):
            if "-" in part.strip()[1:]:
                lo, hi = (
                    part.strip().split("-", 1) if not part.strip().startswith("-") else (part, part)
                )
                seeds += list(range(int(lo), int(hi) + 1))
            else:
                seeds.append(int(part))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a seed list like 0-4 or 1,3,7") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise typer.BadParameter(f"{text!r} must name distinct non-negative seeds, like 0-4")
    return seeds


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
) -> None:
    """Train the naive, centralized, local and federated models; print their test RMSE."""

    import numpy as np

    from app.reporting import stage_progress
    from fl_engine.artifacts import save_artifacts
    from fl_engine.data import DataError, load_runs, resolve_data_dir
    from fl_engine.experiment import MODELS, ExperimentConfig, run_experiment

    seed_list = parse_seeds(seeds) if seeds else [seed]
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
        fail(f"invalid training settings: {_first_error(exc)}")
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

            try:
                result = run_experiment(runs, cfg, progress)
            except ValueError as exc:
                fail(str(exc))
            target = out / f"seed-{cfg.seed}" if len(configs) > 1 else out
            all_metrics.append(save_artifacts(result, target))
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


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc)


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


@data_app.command("check")
def data_check(data_dir: DataDirOption = None) -> None:
    """Validate a C-MAPSS directory against the known row and unit counts."""
    from rich.table import Table

    from fl_engine.data import DataError, check_data_dir, resolve_data_dir

    try:
        path = resolve_data_dir(data_dir)
    except DataError as exc:
        fail(str(exc))
    table = Table(title=f"C-MAPSS files in {path}")
    for col in ("file", "status", "detail"):
        table.add_column(col)
    results = check_data_dir(path)
    colour = {"ok": "green", "absent": "yellow", "error": "red"}
    for r in results:
        table.add_row(r.file, f"[{colour[r.status]}]{r.status}[/]", r.detail)
    console.print(table)
    if any(r.status == "error" for r in results):
        raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[
        str | None,
        typer.Option(help="interface to listen on [default: 127.0.0.1 or $TYCOON_HOST]"),
    ] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="[default: 8000 or $TYCOON_PORT]")
    ] = None,
    data_dir: DataDirOption = None,
    artifacts: Annotated[
        Path | None,
        typer.Option(
            help="trained models, trained and cached here if missing [default: artifacts]"
        ),
    ] = None,
) -> None:
    """Serve the dashboard at http://HOST:PORT (settings also come from TYCOON_* variables)."""
    from pydantic import ValidationError

    from app.bridge import load_game_models
    from app.web.server import PortBusyError
    from app.web.server import serve as run_server
    from app.web.settings import Settings
    from fl_engine.artifacts import ArtifactError
    from fl_engine.data import DataError

    given = {"host": host, "port": port, "data_dir": data_dir, "artifacts_dir": artifacts}
    try:
        settings = Settings(**{k: v for k, v in given.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        fail(f"invalid setting {_first_error(exc)}")
    try:
        run_server(settings, load_game_models)
    except (DataError, ArtifactError, PortBusyError) as exc:
        fail(str(exc))


def main() -> None:
    app()


if __name__ == "__main__":
    main()

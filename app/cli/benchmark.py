"""`tycoon benchmark`: the official C-MAPSS split, so results compare with the literature."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli.common import DataDirOption, app, console, fail

if TYPE_CHECKING:
    from rich.table import Table

SUBSETS = ("FD001", "FD002", "FD003", "FD004")
MODELS = ("window", "ff09")


@app.command()
def benchmark(
    out: Annotated[Path, typer.Option(help="directory for metrics.json and predictions.csv")],
    subset: Annotated[str, typer.Option(help="C-MAPSS subset: FD001, FD002, FD003 or FD004")] = (
        "FD001"
    ),
    seed: Annotated[int, typer.Option(min=0, help="training seed")] = 0,
    model: Annotated[str, typer.Option(help="model family: window or ff09")] = "window",
    data_dir: DataDirOption = None,
    rounds: Annotated[
        int | None, typer.Option(min=1, hidden=True, help="FedAvg rounds (default: the family's)")
    ] = None,
    centralized_epochs: Annotated[
        int | None, typer.Option(min=1, hidden=True, help="pooled epochs (default: the family's)")
    ] = None,
) -> None:
    """Train on train_FD00x only; score the last cycle of every test_FD00x unit against RUL_FD00x.

    Centralized, federated (factories of ~4 train units) and every factory alone, with the game's
    model families and FedAvg. RMSE is against the true RUL capped at 125, as published.
    """
    if subset not in SUBSETS:
        fail(f"unknown subset {subset!r}; choose from {', '.join(SUBSETS)}")
    if model not in MODELS:
        fail(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    if out.exists() and not out.is_dir():
        fail(f"--out {out} is a file; give a directory for metrics.json and predictions.csv")

    from fl_engine.benchmark import BenchmarkConfig, run_benchmark, write_benchmark
    from fl_engine.benchmark_data import load_benchmark
    from fl_engine.data import DataError, resolve_data_dir

    try:
        data = load_benchmark(resolve_data_dir(data_dir), subset)
        cfg = BenchmarkConfig(
            subset=subset,
            seed=seed,
            model=model,  # checked against MODELS above
            rounds=rounds,
            centralized_epochs=centralized_epochs,
        )
        result = run_benchmark(data, cfg, _progress)  # 1 thread: see fl_engine.threads
        write_benchmark(result, out)
    except (DataError, ValueError, OSError) as exc:
        fail(str(exc))
    console.print(_table(result.metrics))
    seconds = result.metrics["seconds"]["total"]
    console.print(
        f"trained and scored in {seconds:.0f} s; wrote {out}/metrics.json and "
        f"{out}/predictions.csv",
        highlight=False,
    )


def _progress(stage: str, done: int, total: int) -> None:
    """One line as each training stage starts: the whole run takes minutes."""
    if done == 0 and stage != "evaluate":
        unit = "epochs" if stage == "centralized" else "rounds"
        console.print(f"{stage}: training, {total} {unit}", highlight=False)


def _table(metrics: dict[str, Any]) -> Table:
    from rich.table import Table

    s = metrics["settings"]
    table = Table(
        title=f"{metrics['subset']} test set ({metrics['test_units']} units, last cycle), "
        f"{s['model']['family']} model, seed {s['seed']}"
    )
    table.add_column("model")
    table.add_column("RMSE (RUL capped at 125)", justify="right")
    table.add_column("PHM08 score", justify="right")
    rows = [
        ("centralized", metrics["centralized"]),
        (f"federated ({s['n_nodes']} factories)", metrics["federated"]),
        ("local: median factory", metrics["local_median"]),
    ]
    for name, m in rows:
        table.add_row(name, f"{m['rmse_capped']:.2f}", f"{m['phm08_score']:.0f}")
    lm = metrics["local_median"]
    table.add_row(
        "local: 10th-90th percentile",
        f"{lm['rmse_capped_p10']:.2f}-{lm['rmse_capped_p90']:.2f}",
        "",
    )
    for name, value in metrics["published_rmse"].items():
        table.add_row(f"[dim]published: {name}[/]", f"[dim]{value:.2f}[/]", "")
    return table

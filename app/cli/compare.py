"""`tycoon compare`: does federated beat local, and by how much? Over seeds, with an interval."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.common import (
    CALIBRATIONS,
    DECISIONS,
    CalibrationOption,
    DataDirOption,
    DecisionOption,
    app,
    check_choice,
    console,
    fail,
    first_error,
    parse_seeds,
)

if TYPE_CHECKING:
    from rich.table import Table

    from app.game.compare import Summary


@app.command()
def compare(
    seeds: Annotated[str, typer.Option(help="training and draw seeds, e.g. 0-4 or 1,3,7")] = "0-4",
    ticks: Annotated[int, typer.Option(min=500, max=1_000_000, help="ticks per seed")] = 5000,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="write the result as JSON to this file")
    ] = None,
    model: Annotated[str, typer.Option(help="model family: window or ff09")] = "window",
    data_dir: DataDirOption = None,
    artifacts: Annotated[
        Path, typer.Option(help="trained game models, trained and cached here if missing")
    ] = Path("artifacts"),
    decision: DecisionOption = None,
    calibration: CalibrationOption = None,
) -> None:
    """Every factory's local model against federated, centralized and the baselines, per seed.

    For each seed the game's models are trained (or loaded) with that seed, and every policy plays
    the same engines in the same order; profit is given as % of an oracle that maintains on the
    last cycle of every engine.
    """
    check_choice("--decision", decision, DECISIONS)  # before the heavy imports: refused at once
    check_choice("--calibration", calibration, CALIBRATIONS)
    from pydantic import ValidationError

    from app.bridge import MODEL_FAMILIES, game_models_for
    from app.game.compare import compare_seed, summarize
    from app.web.settings import Settings
    from fl_engine.artifacts import ArtifactError
    from fl_engine.data import DataError, load_runs, resolve_data_dir

    try:  # $TYCOON_* as `tycoon serve` reads them; the flags win
        server = Settings().with_decision(decision)
    except ValidationError as exc:
        fail(f"the game settings ($TYCOON_*) are invalid: {first_error(exc)}")
    settings = server.game
    method = calibration or server.calibration
    seed_list = parse_seeds(seeds)
    if model not in MODEL_FAMILIES:
        fail(f"unknown model {model!r}; expected one of: {', '.join(MODEL_FAMILIES)}")
    if json_out is not None and json_out.is_dir():
        fail(f"--json {json_out} is a directory; give a file name such as {json_out}/compare.json")
    try:
        runs = load_runs(resolve_data_dir(data_dir))
    except DataError as exc:
        fail(str(exc))
    results = []
    for seed in seed_list:
        try:
            models = game_models_for(
                runs,
                artifacts,
                seed,
                model,
                console,
                calibration=method,
                game=settings,
            )
        except (ArtifactError, DataError, ValueError) as exc:
            fail(str(exc))
        results.append(compare_seed(models.traces, settings, seed, ticks))
        console.print(f"seed {seed}: compared {len(models.traces)} engines", highlight=False)
    summary = summarize(results)
    console.print(_table(summary, ticks, model))
    console.print(_sentence(summary), highlight=False)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "model": model,
            "ticks": ticks,
            "decision": settings.decision,
            "calibration": method,
            **summary.to_json(),
        }
        json_out.write_text(json.dumps(data, indent=1))
        console.print(f"wrote {json_out}")


def _sentence(summary: Summary) -> str:
    lo, hi = summary.ci95
    return (
        f"Federated earns {summary.mean:+.1f} points of the oracle's profit against a factory's own "
        f"local model (95% interval {lo:+.1f} to {hi:+.1f}); it beats "
        f"{100 * summary.share_federated_beats_local:.0f}% of the factories' local models. "
        f"Training seed{'s' if len(summary.seeds) != 1 else ''} "
        f"{', '.join(str(s.seed) for s in summary.seeds)}: one set of models trained with each "
        "(the Compare view varies draw seeds on one set)."
    )


def _table(summary: Summary, ticks: int, model: str) -> Table:
    import numpy as np
    from rich.table import Table

    table = Table(title=f"Profit as % of the oracle ({model} models, {ticks:,} ticks per seed)")
    for column in ("seed", "corrective", "preventative", "centralized", "federated"):
        table.add_column(column, justify="right")
    table.add_column("local: median (10th-90th)", justify="right")
    for s in summary.seeds:
        p = s.percent_of_oracle
        lo, mid, hi = np.percentile(s.local_by_factory, [10, 50, 90])
        table.add_row(
            str(s.seed),
            *(f"{p[k]:.1f}" if k in p else "-" for k in ("corrective", "preventative")),
            *(f"{p[k]:.1f}" if k in p else "-" for k in ("centralized", "federated")),
            f"{mid:.1f} ({lo:.1f}-{hi:.1f})",
        )
    return table

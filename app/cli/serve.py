"""`tycoon serve`: the dashboard."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import (
    CALIBRATIONS,
    DECISIONS,
    CalibrationOption,
    DataDirOption,
    DecisionOption,
    app,
    check_choice,
    fail,
    first_error,
)


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
            help="trained models: cached here; if missing, the shipped defaults or trained "
            "[default: artifacts]"
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help="model family of the game: window or ff09 [default: window]"),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(min=0, help="seed of the game models' training [default: 0]")
    ] = None,
    decision: DecisionOption = None,
    calibration: CalibrationOption = None,
    database: Annotated[
        Path | None,
        typer.Option(
            help="the save file of the games (SQLite; one server per file) "
            "[default: ARTIFACTS/games.sqlite3 or $TYCOON_DATABASE]"
        ),
    ] = None,
) -> None:
    """Serve the dashboard at http://HOST:PORT (settings also come from TYCOON_* variables)."""
    check_choice("--decision", decision, DECISIONS)  # before the heavy imports: refused at once
    check_choice("--calibration", calibration, CALIBRATIONS)
    from pydantic import ValidationError

    from app.bridge import load_game_models
    from app.web.server import PortBusyError
    from app.web.server import serve as run_server
    from app.web.settings import Settings
    from app.web.store import StoreError
    from fl_engine.artifacts import ArtifactError
    from fl_engine.data import DataError

    given = {
        "host": host,
        "port": port,
        "data_dir": data_dir,
        "artifacts_dir": artifacts,
        "model": model,
        "seed": seed,
        "calibration": calibration,
        "database": database,
    }
    try:
        settings = Settings(**{k: v for k, v in given.items() if v is not None})  # type: ignore[arg-type]
        settings = settings.with_decision(decision)
    except ValidationError as exc:
        fail(f"invalid setting {first_error(exc)}")
    if settings.artifacts_dir.exists() and not settings.artifacts_dir.is_dir():
        # checked here, before the port: a file there is a typo, not a place to cache models in
        fail(f"--artifacts {settings.artifacts_dir} is a file, not a directory")
    try:
        run_server(settings, load_game_models)
    except (DataError, ArtifactError, PortBusyError, StoreError, ValueError) as exc:
        fail(str(exc))

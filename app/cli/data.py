"""`tycoon data check`: is this C-MAPSS directory complete and intact?"""

from __future__ import annotations

import typer

from app.cli.common import DataDirOption, console, data_app, fail


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

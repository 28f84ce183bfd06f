"""What every `tycoon` command shares: the typer app, consoles, errors, common options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

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
    """One line on stderr and exit code 2; the message is shown as written (`[flower]` stays)."""
    from rich.markup import escape

    err.print(f"[bold red]error:[/] {escape(message)}")
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


def first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc)

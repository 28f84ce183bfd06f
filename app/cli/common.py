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


DECISIONS = ("calibrated", "raw")
CALIBRATIONS = ("in-sample", "cross-fit")
DecisionOption = Annotated[
    str | None,
    typer.Option(
        help="how predictive strategies read a model: calibrated (maintain when prediction - "
        "margin < 10, the model's 90% late-life over-prediction on its training engines) or raw "
        "(FF09: prediction < 10) [default: calibrated or $TYCOON_GAME__DECISION]",
    ),
]
CalibrationOption = Annotated[
    str | None,
    typer.Option(
        help="how the margins are measured: in-sample (on the models themselves) or cross-fit "
        "(on models that never saw the calibration engines; 3x the training) "
        "[default: in-sample or $TYCOON_CALIBRATION]",
    ),
]


def check_choice(flag: str, value: str | None, choices: tuple[str, ...]) -> None:
    """One line naming the flag and its choices when `value` is not one of them."""
    if value is not None and value not in choices:
        fail(f"{flag} must be one of {', '.join(choices)}, got {value!r}")


def fail(message: str) -> NoReturn:
    """One line on stderr and exit code 2; the message is shown as written (`[flower]` stays)."""
    from rich.markup import escape

    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)  # one line, unwrapped
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

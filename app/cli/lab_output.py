"""How `tycoon lab` prints a run: one row per round (a growing rich table on a terminal, a plain
line anywhere else), and the personalization table at the end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from app.cli.common import console

if TYPE_CHECKING:
    from rich.table import Table

# a round's columns as plain lines name them
COLUMNS = ["round", "rmse", "late-life rmse", "participants", "dropped", "stragglers"]
COLUMNS += ["attackers", "rejected", "bytes up", "bytes down", "epsilon", "seconds"]
# (epsilon: the privacy spent so far, "-" without DP noise)
# the same columns, short enough for an 80-column terminal
HEADERS = ("round", "RMSE", "late", "in", "drop", "slow", "atk", "rej", "up", "down", "eps", "s")


def round_cells(record: dict[str, Any]) -> list[str]:
    """One round's record as the table's cells."""
    return [
        str(record["round"]),
        cycles(record["rmse"]),
        cycles(record["late_life_rmse"]),
        *(str(len(record[k])) for k in ("participants", "dropped", "stragglers", "attackers")),
        str(len(record["rejected"])),
        _size(record["bytes_up"]),
        _size(record["bytes_down"]),
        "-" if record.get("epsilon") is None else f"{record['epsilon']:.2f}",
        f"{record['seconds']:.2f}",
    ]


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB"):
        if n < 1000:
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1000
    return f"{n:.2f}GB"


@contextmanager
def round_printer(total: int) -> Iterator[Callable[[dict[str, Any]], None]]:
    """Show each round's record: a growing table on a terminal, a plain line anywhere else."""
    if not console.is_terminal:

        def line(record: dict[str, Any]) -> None:
            cells = zip(COLUMNS, round_cells(record), strict=True)
            console.print("  ".join(f"{n} {c}" for n, c in cells), highlight=False, soft_wrap=True)
            console.file.flush()

        yield line
        return
    from rich import box
    from rich.live import Live
    from rich.table import Table

    table = Table(
        title=f"Federation Lab: {total} rounds (RMSE and late-life RMSE in cycles; nodes in, "
        "dropped, straggling, attacking, rejected; bytes up and down; seconds)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for name in HEADERS:
        table.add_column(name, justify="right", no_wrap=True)
    with Live(table, console=console, vertical_overflow="visible"):
        yield lambda record: table.add_row(*round_cells(record))


def cycles(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"  # None: not finite


def personalization_table(rows: list[dict[str, Any]], epochs: int) -> Table:
    """Per factory: the federated model, it fine-tuned for `epochs` epochs, and its own model."""
    import numpy as np
    from rich.table import Table

    table = Table(title=f"Personalization: {epochs} local epoch(s) of fine-tuning, test RMSE")
    for name in ("factory", "federated", "personalized", "local"):
        table.add_column(name, justify="right")
    keys = ("federated_rmse", "personalized_rmse", "local_rmse")
    if len(rows) <= 24:
        for row in rows:
            table.add_row(str(row["node"]), *(f"{row[k]:.2f}" for k in keys))
    values = {k: np.array([r[k] for r in rows], dtype=float) for k in keys}
    table.add_row(f"median of {len(rows)}", *(f"{np.nanmedian(values[k]):.2f}" for k in keys))
    better = np.mean(values["personalized_rmse"] < values["federated_rmse"])
    table.caption = f"personalized beats federated on {100 * better:.0f}% of the factories"
    return table

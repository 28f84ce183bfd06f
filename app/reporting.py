"""Progress of long stages (training) for people and for logs.

On a terminal, rich draws live bars; anywhere else (CI logs, `| tee`, a file) rich would print
nothing until the end, so plain lines are printed instead: each stage's start, every tenth of
its way, and its end, with the seconds since the run began.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn


class StageProgress(Protocol):
    def __call__(self, stage: str, done: int, total: int) -> None: ...


class PlainProgress:
    """One line per step worth telling, flushed at once."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._start = time.perf_counter()
        self._told: dict[str, int] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        step = max(1, total // 10)
        if done == 0 and stage in self._told:
            return
        if done not in (0, total) and done - self._told.get(stage, 0) < step:
            return
        self._told[stage] = done
        self._console.print(
            f"{stage}: {done}/{total} (at {time.perf_counter() - self._start:.1f} s)",
            highlight=False,
            soft_wrap=True,
        )
        self._console.file.flush()


@contextmanager
def stage_progress(console: Console) -> Iterator[StageProgress]:
    """A progress callback `(stage, done, total)`: live bars on a terminal, lines elsewhere."""
    if not console.is_terminal:
        yield PlainProgress(console)
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        yield update

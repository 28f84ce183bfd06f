"""Reading a fast game: what a frame shows, and a `GameState` on demand.

`app.game.fast.FastGame` keeps a game in plain lists and plays its ticks; this base class holds
those lists and reads them without changing them: `rows()` for frames (no frozen dataclasses
built, which is most of what `state()` costs) and `state()` for commands and saving.
"""

from __future__ import annotations

from dataclasses import replace

from app.game.decisions import DecisionTables
from app.game.history import ProfitPoint
from app.game.settings import GameSettings
from app.game.state import (
    Event,
    FactoryState,
    GameState,
    Ghost,
    Progress,
    Season,
    SlotState,
    SlotStatus,
)

RUNNING, MAINTENANCE, DOWN = 0, 1, 2
STATUSES: tuple[SlotStatus, ...] = ("running", "maintenance", "down")
SlotRow = tuple[int, int, int, SlotStatus, int, int]  # a SlotState's fields, in order


class FastGameData:
    """A fast game's lists (see `FastGame` for what they mean) and the ways to read them."""

    _tables: DecisionTables
    _settings: GameSettings
    _seed: int
    _fair: bool
    _tick: int
    _progress: Progress
    _season: Season
    _events: list[Event]
    _since: int | None
    _templates: list[FactoryState]
    _names: list[str]
    _profit: list[float]
    _active: list[int]
    _maint: list[int]
    _fail: list[int]
    _ranges: list[range]
    _index: list[int]
    _engine: list[int]
    _draws: list[int]
    _status: list[int]
    _cycle: list[int]
    _stop: list[int]
    _next: list[int]
    _col: int

    @property
    def season(self) -> Season:
        """The race as it stands (cheap: no state is built)."""
        return self._season

    @property
    def tick(self) -> int:
        """The tick the game stands at (the end of it)."""
        return self._tick

    def _slot_row(self, i: int) -> SlotRow:
        """Slot `i` as the reference holds it now: (index, engine, cycle, status, downtime
        still to sit out, draws); the cycle and downtime follow from the slot's next tick."""
        status = self._status[i]
        if status == RUNNING:
            cycle = self._stop[i] - (self._next[i] - self._tick)
            return (self._index[i], self._engine[i], cycle, "running", 0, self._draws[i])
        left = self._next[i] - self._tick - 1
        return (
            self._index[i],
            self._engine[i],
            self._cycle[i],
            STATUSES[status],
            left,
            self._draws[i],
        )

    def _slot(self, i: int) -> SlotState:
        return SlotState(*self._slot_row(i))

    def rows(self) -> list[tuple[FactoryState, list[SlotRow]]]:
        """Each factory (the ghost last) with its books as they stand and its slots' rows: what
        a frame shows, without building a `GameState` (the factory's own `slots` are stale)."""
        return [
            (self._factory(f, ()), [self._slot_row(i) for i in slots])
            for f, slots in enumerate(self._ranges)
        ]

    @property
    def seed(self) -> int:
        return self._seed

    @property
    def ghost_since(self) -> int | None:
        return self._since

    @property
    def events(self) -> tuple[Event, ...]:
        return tuple(self._events)

    @property
    def progress(self) -> Progress:
        """The player's progress as it stands."""
        if self._progress.cycles_on_local != self._col:
            self._progress = replace(self._progress, cycles_on_local=self._col)
        return self._progress

    def _factory(self, f: int, slots: tuple[SlotState, ...]) -> FactoryState:
        """Factory `f` (the ghost last) with its books as they stand, around `slots`."""
        t = self._templates[f]
        books = (self._profit[f], self._active[f], self._maint[f], self._fail[f])
        return FactoryState(
            t.name, t.is_player, t.strategy, t.allowed, slots, t.stream, t.node, *books
        )

    def state(self) -> GameState:
        """The game as a `GameState`, equal to the one `simulation.step` would have made."""
        factories = [
            self._factory(f, tuple([self._slot(i) for i in slots]))
            for f, slots in enumerate(self._ranges)
        ]
        ghost = None if self._since is None else Ghost(self._since, factories.pop())
        return GameState(
            self._seed,
            self._tick,
            self._fair,
            tuple(factories),
            self.progress,
            self._season,
            tuple(self._events),
            ghost,
        )

    def profit_point(self) -> ProfitPoint:
        """`ProfitPoint.of(self.state())`, without building the state."""
        profit = self._profit
        return ProfitPoint(
            self._tick,
            dict(zip(self._names, profit, strict=False)),
            None if self._since is None else profit[-1],
        )

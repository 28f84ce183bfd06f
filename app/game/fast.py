"""The fast tick path: `simulation.step`'s rules over mutable lists, for a server of many games.

The reference builds a new frozen state every tick, which costs tens of microseconds; a server
advancing hundreds of games fifty times a second cannot afford it. Here a game is a few lists,
and a slot is only looked at on the ticks it changes: a running engine's next stop (maintained
or failed, from `DecisionTables.next_stop`) and a down slot's restart are each a known tick, so
a tick on which no slot stops or restarts only books every factory's running cycles.

The rules are the reference's, in the same order with the same float expressions, so `state()`
equals what `simulation.step` would have produced (tests/test_fast_game.py checks it over
thousands of ticks). Commands stay in `app.game.progress` over `GameState`: materialize with
`state()`, apply the command, and rebuild with `FastGame.from_state`, both cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from app.game import progress as progress_rules
from app.game.decisions import DecisionTables
from app.game.draws import draw_engine
from app.game.engines import EngineTrace
from app.game.fast_state import DOWN, MAINTENANCE, RUNNING, STATUSES, FastGameData
from app.game.settings import GameSettings
from app.game.simulation import season_event, stop_event
from app.game.state import Event, FactoryState, GameState, SlotState

_CODES: dict[str, int] = {name: code for code, name in enumerate(STATUSES)}


class FastGame(FastGameData):
    """One game's mutable state; `step()` plays one tick exactly as `simulation.step` does.

    Factories are the state's, player first, then the ghost (when there is one) last. Per slot:
    `_next[i]` is the tick on which it next changes: for a running slot the tick after which its
    engine leaves at cycle `_stop[i]` (so its cycle now is `_stop[i] - (_next[i] - tick)`), for a
    down slot the tick on which it is dealt a new engine (so `downtime_left` is
    `_next[i] - tick - 1`). `_soonest` is the smallest `_next`, so most ticks skip the slots.
    """

    def __init__(self, state: GameState, tables: DecisionTables) -> None:
        """Prefer `from_state`; this reads `state` once and keeps no reference to its slots."""
        self._tables = tables
        settings = self._settings = tables.settings
        self._seed = state.seed
        self._fair = state.fair_draws
        self._tick = state.tick
        self._progress = state.progress
        self._season = state.season
        # The reference subtracts 0 x cost on quiet ticks too: the same floats, to the last bit.
        self._no_maint = 0 * settings.maintenance_cost
        self._no_fail = 0 * settings.failure_cost
        self._events: list[Event] = list(state.events)
        self._since = None if state.ghost is None else state.ghost.since_tick
        self._templates: list[FactoryState] = list(state.factories)
        if state.ghost is not None:
            self._templates.append(state.ghost.factory)
        self._n_real = len(state.factories)
        self._names = [f.name for f in state.factories]
        self._profit = [f.profit for f in self._templates]
        self._active = [f.active_cycles for f in self._templates]
        self._maint = [f.maintenances for f in self._templates]
        self._fail = [f.failures for f in self._templates]
        self._running = [0] * len(self._templates)
        self._ranges: list[range] = []
        self._stop_tables: list[list[list[int]]] = []
        self._maint_tables: list[list[list[bool]]] = []
        self._index: list[int] = []
        self._engine: list[int] = []
        self._draws: list[int] = []
        self._status: list[int] = []
        self._cycle: list[int] = []
        self._stop: list[int] = []
        self._next: list[int] = []
        for f, factory in enumerate(self._templates):
            self._stop_tables.append(tables.next_stop(factory.strategy, factory.node))
            self._maint_tables.append(tables.maintain(factory.strategy, factory.node))
            start = len(self._index)
            for slot in factory.slots:
                self._add_slot(f, factory.name, slot)
            self._ranges.append(range(start, len(self._index)))
        self._soonest = min(self._next, default=self._tick + 1)
        self._watch()

    @staticmethod
    def from_state(
        state: GameState,
        pool: Sequence[EngineTrace],
        settings: GameSettings,
        tables: DecisionTables,
    ) -> FastGame:
        """A fast game at `state`; `pool` and `settings` must be the ones `tables` was built on.

        Raises `ValueError` if they are not, or if the state cannot be played on that pool (an
        engine index outside the pool, a running engine past its last cycle).
        """
        if not tables.built_on(pool, settings):
            raise ValueError(
                "the pool or settings are not the ones the decision tables were built on"
            )
        return FastGame(state, tables)

    def _add_slot(self, f: int, name: str, slot: SlotState) -> None:
        """Slot `slot` of factory `f`, refused if no game on this pool can have reached it."""
        n_cycles = self._tables.n_cycles
        status = _CODES.get(slot.status, -1)
        running = status == RUNNING
        if (
            status < 0
            or not 0 <= slot.engine < len(n_cycles)
            or (slot.downtime_left != 0 if running else slot.downtime_left < 0)
            or (running and not 0 <= slot.cycle < n_cycles[slot.engine])
        ):
            raise ValueError(f"{name}: no game on this pool of {len(n_cycles)} has {slot}")
        if running:
            stop = self._stop_tables[f][slot.engine][slot.cycle]
            self._next.append(self._tick + stop - slot.cycle)
            self._running[f] += 1
        else:
            stop = 0
            self._next.append(self._tick + slot.downtime_left + 1)
        self._index.append(slot.index)
        self._engine.append(slot.engine)
        self._draws.append(slot.draws)
        self._status.append(status)
        self._cycle.append(slot.cycle)
        self._stop.append(stop)

    def _watch(self) -> None:
        """Cache what the progress rules look at, which only commands and unlocks change."""
        progress = self._progress
        self._col = progress.cycles_on_local
        self._col_step = int(not progress.free_play and self._templates[0].strategy == "local")
        self._watch_unlock = not progress.preventative_unlocked
        self._watch_offer = not progress.federation_offered

    def step(self) -> None:
        """Play exactly one tick (the order of `simulation`'s module docstring)."""
        tick = self._tick + 1
        self._tick = tick
        settings = self._settings
        rev = settings.revenue_per_cycle
        if tick < self._soonest:  # no slot changes: every running slot runs one more cycle
            profit = self._profit
            active = self._active
            no_maint = self._no_maint
            no_fail = self._no_fail
            for f, cycles in enumerate(self._running):
                profit[f] = profit[f] + cycles * rev - no_maint - no_fail
                active[f] += cycles
        else:
            self._slot_tick(tick, rev, settings.maintenance_cost, settings.failure_cost)
        old_col = self._col
        self._col = old_col + self._col_step
        if (self._watch_unlock and self._fail[0] >= settings.failures_to_unlock_preventative) or (
            self._watch_offer and self._col >= settings.federation_offer_after_cycles
        ):
            self._after_tick(old_col)
        if self._season.winner is None:
            self._race(tick)
        events = self._events
        if len(events) > settings.recent_events:
            del events[: len(events) - settings.recent_events]

    def _slot_tick(self, tick: int, rev: float, m_cost: float, f_cost: float) -> None:
        """A tick on which some slot stops or restarts: every slot, in the reference's order."""
        settings = self._settings
        tables = self._tables
        nxt = self._next
        status = self._status
        for f, slots in enumerate(self._ranges):
            cycles = self._running[f]
            maintenances = failures = 0
            template = self._templates[f]
            stop_table = self._stop_tables[f]
            for i in slots:
                if nxt[i] != tick:
                    continue
                if status[i] != RUNNING:  # 2b: dealt the next engine, which runs cycle 1
                    self._restart(i, tick, template.stream, stop_table)
                    cycles += 1
                    self._running[f] += 1
                    if nxt[i] != tick:
                        continue
                engine = self._engine[i]  # 2d / 2e: the engine leaves after cycle _stop[i]
                cycle = self._cycle[i] = self._stop[i]
                maintained = self._maint_tables[f][engine][cycle]
                if maintained:
                    maintenances += 1
                    status[i] = MAINTENANCE
                    nxt[i] = tick + settings.maintenance_downtime + 1
                else:
                    failures += 1
                    status[i] = DOWN
                    nxt[i] = tick + settings.failure_downtime + 1
                self._running[f] -= 1
                if f < self._n_real:
                    trace = tables.pool[engine]
                    self._events.append(
                        stop_event(
                            tick, template.name, self._index[i], trace, cycle, maintained, settings
                        )
                    )
            self._profit[f] = (
                self._profit[f] + cycles * rev - maintenances * m_cost - failures * f_cost
            )
            self._active[f] += cycles
            self._maint[f] += maintenances
            self._fail[f] += failures
        self._soonest = min(nxt, default=tick + 1)

    def _restart(self, i: int, tick: int, stream: int, stop_table: list[list[int]]) -> None:
        """Slot `i` is dealt its next engine (rule 2b) and runs its cycle 1 on `tick`."""
        n_slots = self._settings.n_slots
        pool_size = len(self._tables.n_cycles)
        draws = self._draws[i]
        engine = draw_engine(
            self._seed, self._fair, stream, self._index[i], draws, pool_size, n_slots
        )
        self._engine[i] = engine
        self._draws[i] = draws + 1
        self._status[i] = RUNNING
        self._cycle[i] = 0
        self._stop[i] = stop_table[engine][0]
        self._next[i] = tick + self._stop[i] - 1

    def _after_tick(self, old_col: int) -> None:
        """Step 3 when an unlock or the offer is due: the progress rules on a state built here."""
        player = self._factory(0, ())
        before = replace(self._progress, cycles_on_local=old_col)
        state = GameState(self._seed, self._tick, self._fair, (player,), before, self._season)
        self._progress, events = progress_rules.after_tick(state, self._settings)
        self._events.extend(events)
        self._watch()

    def _race(self, tick: int) -> None:
        """Step 4: the first factory at the goal wins (the richest, first listed, if several)."""
        goal = self._season.goal
        winner = -1
        for f in range(self._n_real):
            if self._profit[f] >= goal and (winner < 0 or self._profit[f] > self._profit[winner]):
                winner = f
        if winner >= 0:
            name = self._names[winner]
            self._season = replace(self._season, winner=name, finished_tick=tick)
            self._events.append(season_event(tick, name, goal))


__all__ = ["DecisionTables", "FastGame"]

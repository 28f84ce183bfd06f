"""The game state as a frame sends it: plain dictionaries, built fast, in `GameStateView`'s shape.

200 games x 20 frames/s cannot afford pydantic models per frame: frames are plain dictionaries
that `tests/test_state_view.py` validates against `schemas.GameStateView`. RULs are rounded to
0.01 cycle, and only the player's slots carry sensors and predictions (docs/protocol.md). A
`StateViewBuilder` belongs to one game and reuses the dictionaries of parts that did not change
since its previous view, so `app.web.delta.diff` skips them by identity.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.game import progress as progress_rules
from app.game.engines import EngineTrace
from app.game.fast_state import FastGameData, SlotRow
from app.game.settings import GameSettings
from app.game.state import Event, FactoryState, GameState, Progress, Season, SlotState
from app.web import delta
from app.web.views import margins_view

View = dict[str, Any]
_NO_SENSORS: list[float] = []  # shared, never changed: unchanged empty readings are skipped


def _rul(value: float) -> float:
    return round(float(value), 2)


class StateViewBuilder:
    """Builds one game's state views, remembering the last parts it built."""

    def __init__(
        self,
        pool: Sequence[EngineTrace],
        federated_model: str = "default",
        decision: str = "calibrated",
        game: GameSettings | None = None,
    ) -> None:
        self._pool = pool
        self._game = game or GameSettings()
        self._federated_model = federated_model
        self._decision = decision
        self._slots: dict[tuple[int, int], tuple[tuple[Any, ...], View]] = {}
        # Slot views rebuilt from their previous view, with the patch between them, by id of
        # the new view (this build's and the one before): `patch` looks them up.
        self._slot_patches: dict[int, tuple[View, View, dict[str, Any]]] = {}
        self._older_patches: dict[int, tuple[View, View, dict[str, Any]]] = {}
        self._events: tuple[tuple[Event, ...], list[View]] = ((), [])
        self._parts: dict[Any, Any] = {}

    def _kept(self, name: Any, value: Any) -> Any:
        """`value`, or the equal object built before (so a diff skips it by identity)."""
        before = self._parts.get(name)
        if before is not None and before == value:
            return before
        self._parts[name] = value
        return value

    def build(self, state: GameState, *, running: bool, ticks_per_second: float) -> View:
        """The view of a `GameState` (the reference; `build_fast` is the server's)."""
        factories = list(state.factories)
        if state.ghost is not None:
            factories.append(state.ghost.factory)
        rows = [(f, [astuple_slot(s) for s in f.slots]) for f in factories]
        since = None if state.ghost is None else state.ghost.since_tick
        return self._build(
            state.seed,
            state.tick,
            state.progress,
            state.season,
            state.events,
            rows,
            since,
            running,
            ticks_per_second,
        )

    def build_fast(self, game: FastGameData, *, running: bool, ticks_per_second: float) -> View:
        """The view of a fast game, read without building its `GameState`."""
        return self._build(
            game.seed,
            game.tick,
            game.progress,
            game.season,
            game.events,
            game.rows(),
            game.ghost_since,
            running,
            ticks_per_second,
        )

    def _build(
        self,
        seed: int,
        tick: int,
        progress: Progress,
        season: Season,
        events: tuple[Event, ...],
        rows: list[tuple[FactoryState, list[SlotRow]]],
        ghost_since: int | None,
        running: bool,
        ticks_per_second: float,
    ) -> View:
        self._older_patches, self._slot_patches = self._slot_patches, {}
        unlocked = progress_rules.unlocked(progress)
        n_real = len(rows) - (ghost_since is not None)
        ghost = None
        if ghost_since is not None:
            shadow = rows[-1][0]
            ghost = {
                "name": shadow.name,
                "since_tick": ghost_since,
                "node": shadow.node,
                "profit": shadow.profit,
                "federated_gain": rows[0][0].profit - shadow.profit,
            }
        return {
            "seed": seed,
            "tick": tick,
            "running": running,
            "ticks_per_second": ticks_per_second,
            "free_play": progress.free_play,
            "federated_model": self._federated_model,
            "lab_model": None,  # the deployed lab model's view, set by `GameSession.view`
            "unlocked": self._kept("unlocked", list(unlocked)),
            "offers": self._kept("offers", progress_rules.offers(progress, rows[0][0], self._game)),
            "factories": [
                self._factory(i, f, slots, unlocked) for i, (f, slots) in enumerate(rows[:n_real])
            ],
            "events": self._event_views(events),
            "ghost": self._kept("ghost", ghost),
            "margins": self._kept(
                "margins", margins_view(self._pool[0], self._decision, [f.node for f, _ in rows])
            ),
            "season": self._kept(
                "season",
                {
                    "goal": season.goal,
                    "winner": season.winner,
                    "finished_tick": season.finished_tick,
                },
            ),
        }

    def _factory(
        self, i: int, factory: FactoryState, slots: list[SlotRow], unlocked: Sequence[str]
    ) -> View:
        allowed = unlocked if factory.is_player else factory.allowed
        return {
            "name": factory.name,
            "is_player": factory.is_player,
            "node": factory.node,
            "strategy": factory.strategy,
            "allowed_strategies": self._kept(("allowed", i), list(allowed)),
            "profit": factory.profit,
            "active_cycles": factory.active_cycles,
            "maintenances": factory.maintenances,
            "failures": factory.failures,
            "slots": [self._slot(i, factory, row) for row in slots],
        }

    def _slot(self, i: int, factory: FactoryState, row: SlotRow) -> View:
        index, engine, cycle, status, downtime_left, _ = row
        key = (engine, cycle, status, downtime_left, factory.node)
        cached = self._slots.get((i, index))
        if cached is not None:
            if cached[0] == key:
                return cached[1]
            if cached[0][0] == engine and cached[0][4] == factory.node:
                return self._moved_slot(i, factory, row, key, cached[0], cached[1])
        trace = self._pool[engine]
        view: View = {
            "index": index,
            "engine_id": trace.engine_id,
            "cycle": cycle,
            "status": status,
            "downtime_left": downtime_left,
            "sensors": _NO_SENSORS,
            "local_rul": None,
            "federated_rul": None,
        }
        if cycle > 0 and factory.is_player:
            at = cycle - 1
            view["sensors"] = trace.sensors[at].tolist()
            view["local_rul"] = _rul(trace.local_rul[factory.node, at])
            view["federated_rul"] = _rul(trace.federated_rul[at])
        self._slots[(i, index)] = (key, view)
        return view

    def _moved_slot(
        self,
        i: int,
        factory: FactoryState,
        row: SlotRow,
        key: tuple[Any, ...],
        old_key: tuple[Any, ...],
        old: View,
    ) -> View:
        """The same engine a few cycles on: copy its view, change what moved, note the patch."""
        index, engine, cycle, status, downtime_left, _ = row
        patch: dict[str, Any] = {}
        if cycle != old_key[1]:
            patch["cycle"] = cycle
            if factory.is_player:
                trace = self._pool[engine]
                at = cycle - 1
                patch["sensors"] = trace.sensors[at].tolist() if cycle > 0 else _NO_SENSORS
                patch["local_rul"] = _rul(trace.local_rul[factory.node, at]) if cycle > 0 else None
                patch["federated_rul"] = _rul(trace.federated_rul[at]) if cycle > 0 else None
        if status != old_key[2]:
            patch["status"] = status
        if downtime_left != old_key[3]:
            patch["downtime_left"] = downtime_left
        view = {**old, **patch}
        self._slots[(i, index)] = (key, view)
        self._slot_patches[id(view)] = (old, view, patch)
        return view

    def patch(self, old: View, new: View) -> dict[str, Any]:
        """`delta.diff(old, new)` for two views this builder made, knowing their shape.

        It runs for every frame of every client, and knowing where things change makes it
        several times faster than the general diff: scalars are compared in place, a slot view
        that is the same object is skipped, a slot rebuilt from the previous view comes with its
        patch, and the rare parts (events, offers, season...) go to the general diff.
        `tests/test_delta.py` holds both to rebuilding the same states.
        """
        patch: dict[str, Any] = {}
        for key in _TOP:
            a, b = old[key], new[key]
            if a != b or type(a) is not type(b):
                patch[key] = b
        for key in _PARTS:
            a, b = old[key], new[key]
            if a is not b:
                change = delta.diff({key: a}, {key: b})
                if change:
                    patch[key] = change[key]
        before, after = old["factories"], new["factories"]
        if len(before) != len(after):
            patch["factories"] = after
            return patch
        factories: dict[str, Any] = {}
        for i, (x, y) in enumerate(zip(before, after, strict=True)):
            change = {k: y[k] for k in _FACTORY if x[k] != y[k] or type(x[k]) is not type(y[k])}
            if x["allowed_strategies"] != y["allowed_strategies"]:
                change["allowed_strategies"] = y["allowed_strategies"]
            slots = self._slots_patch(x["slots"], y["slots"])
            if slots is not None:
                change["slots"] = slots
            if change:
                factories[str(i)] = change
        if factories:
            patch["factories"] = factories
        return patch

    def _slots_patch(self, before: list[View], after: list[View]) -> Any:
        if len(before) != len(after):
            return after
        patch = {}
        for j, (u, v) in enumerate(zip(before, after, strict=True)):
            if u is v:
                continue
            known = self._slot_patches.get(id(v)) or self._older_patches.get(id(v))
            if known is not None and known[0] is u and known[1] is v:
                change = known[2]
            else:
                change = {k: v[k] for k in _SLOT if u[k] != v[k] or type(u[k]) is not type(v[k])}
            if change:
                patch[str(j)] = change
        return patch or None

    def _event_views(self, events: tuple[Event, ...]) -> list[View]:
        if events == self._events[0]:
            return self._events[1]
        views = [
            {
                "tick": e.tick,
                "factory": e.factory,
                "slot": e.slot,
                "kind": e.kind,
                "message": e.message,
            }
            for e in events
        ]
        self._events = (events, views)
        return views


def astuple_slot(slot: SlotState) -> SlotRow:
    return (slot.index, slot.engine, slot.cycle, slot.status, slot.downtime_left, slot.draws)


_TOP = ("seed", "tick", "running", "ticks_per_second", "free_play", "federated_model")
_PARTS = ("unlocked", "offers", "events", "ghost", "margins", "season")
_FACTORY = (
    "name",
    "is_player",
    "node",
    "strategy",
    "profit",
    "active_cycles",
    "maintenances",
    "failures",
)
_SLOT = (
    "index",
    "engine_id",
    "cycle",
    "status",
    "downtime_left",
    "sensors",
    "local_rul",
    "federated_rul",
)

"""The game state as a frame sends it: plain dictionaries, built fast, in `GameStateView`'s shape.

A server at 200 games x 20 frames/s cannot build pydantic models per frame, so frames are plain
dictionaries that `tests/test_state_view.py` validates against `schemas.GameStateView`. Two
display rules keep frames small (docs/protocol.md): predicted RULs are rounded to 0.01 cycle,
and only the player's slots carry sensor readings and predictions (the dashboard draws no
others; the competitors' slots show engine, cycle and status).

A `StateViewBuilder` belongs to one game and reuses the dictionaries of parts that did not change
since its previous view, so `app.web.delta.diff` skips them by identity.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.game import progress as progress_rules
from app.game.engines import EngineTrace
from app.game.state import Event, FactoryState, GameState, SlotState

View = dict[str, Any]


def _rul(value: float) -> float:
    return round(float(value), 2)


class StateViewBuilder:
    """Builds one game's state views, remembering the last parts it built."""

    def __init__(self, pool: Sequence[EngineTrace]) -> None:
        self._pool = pool
        self._slots: dict[tuple[int, int], tuple[tuple[Any, ...], View]] = {}
        self._events: tuple[tuple[Event, ...], list[View]] = ((), [])

    def build(self, state: GameState, *, running: bool, ticks_per_second: float) -> View:
        progress = state.progress
        unlocked = progress_rules.unlocked(progress)
        return {
            "seed": state.seed,
            "tick": state.tick,
            "running": running,
            "ticks_per_second": ticks_per_second,
            "free_play": progress.free_play,
            "unlocked": list(unlocked),
            "offers": {
                "hire_data_scientist": progress_rules.hire_offered(progress),
                "federation": progress_rules.federation_offered(progress),
            },
            "factories": [self._factory(i, f, unlocked) for i, f in enumerate(state.factories)],
            "events": self._event_views(state.events),
            "ghost": _ghost(state),
            "season": {
                "goal": state.season.goal,
                "winner": state.season.winner,
                "finished_tick": state.season.finished_tick,
            },
        }

    def _factory(self, i: int, factory: FactoryState, unlocked: Sequence[str]) -> View:
        allowed = unlocked if factory.is_player else factory.allowed
        return {
            "name": factory.name,
            "is_player": factory.is_player,
            "node": factory.node,
            "strategy": factory.strategy,
            "allowed_strategies": list(allowed),
            "profit": factory.profit,
            "active_cycles": factory.active_cycles,
            "maintenances": factory.maintenances,
            "failures": factory.failures,
            "slots": [self._slot(i, factory, s) for s in factory.slots],
        }

    def _slot(self, i: int, factory: FactoryState, slot: SlotState) -> View:
        key = (slot.engine, slot.cycle, slot.status, slot.downtime_left, factory.node)
        cached = self._slots.get((i, slot.index))
        if cached is not None and cached[0] == key:
            return cached[1]
        trace = self._pool[slot.engine]
        view: View = {
            "index": slot.index,
            "engine_id": trace.engine_id,
            "cycle": slot.cycle,
            "status": slot.status,
            "downtime_left": slot.downtime_left,
            "sensors": [],
            "local_rul": None,
            "federated_rul": None,
        }
        if slot.cycle > 0 and factory.is_player:
            row = slot.cycle - 1
            view["sensors"] = trace.sensors[row].tolist()
            view["local_rul"] = _rul(trace.local_rul[factory.node, row])
            view["federated_rul"] = _rul(trace.federated_rul[row])
        self._slots[(i, slot.index)] = (key, view)
        return view

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


def _ghost(state: GameState) -> View | None:
    if state.ghost is None:
        return None
    shadow = state.ghost.factory
    return {
        "name": shadow.name,
        "since_tick": state.ghost.since_tick,
        "node": shadow.node,
        "profit": shadow.profit,
        "federated_gain": state.player.profit - shadow.profit,
    }

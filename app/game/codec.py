"""A game state to and from plain JSON-able data, for saving games (to SQLite, as JSON text).

Loading is strict because a saved game may come from a corrupt or foreign file: every key must be
there and no other, every value of its type and range, or `state_from_dict` raises `ValueError`
naming the field (as a path, e.g. `factories[1].slots[2].status`). A game that loads silently
wrong would play on with nonsense, which is worse than refusing it. `CODEC_VERSION` is written
into every dict and any other version is refused, so a format change can never be misread.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, TypeVar, cast, get_args

import orjson

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
from app.game.strategies import STRATEGIES

CODEC_VERSION = 1
T = TypeVar("T")
_STATUSES: tuple[str, ...] = get_args(SlotStatus)


def state_to_dict(state: GameState) -> dict[str, Any]:
    """`state` as dicts, lists, strings, numbers, booleans and None (tuples become lists)."""
    data = asdict(state)
    data["codec_version"] = CODEC_VERSION
    return cast(dict[str, Any], _lists(data))


def state_to_json(state: GameState) -> bytes:
    """`state_to_dict(state)` as JSON, made by orjson straight from the dataclasses: saving
    hundreds of games a second is then a few microseconds each, not a walk in Python."""
    body = orjson.dumps(state)  # an object with the state's fields, tuples as arrays
    return b'{"codec_version":%d,' % CODEC_VERSION + body[1:]


def _lists(value: Any) -> Any:
    """Tuples to lists all the way down, so the dict is JSON's own shape and compares as such."""
    if isinstance(value, dict):
        return {key: _lists(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_lists(item) for item in value]
    return value


def state_from_dict(data: Any) -> GameState:
    """The state `state_to_dict` wrote, or `ValueError` naming the first field that is wrong."""
    if not isinstance(data, dict):
        raise ValueError(f"a saved game must be an object, got {type(data).__name__}")
    version = data.get("codec_version")
    if type(version) is not int or version != CODEC_VERSION:
        raise ValueError(
            f"codec_version: this game reads saved games of version {CODEC_VERSION}, "
            f"got {version!r}"
        )
    fields = {key: value for key, value in data.items() if key != "codec_version"}
    root = _Object(fields, "", _GAME_KEYS)
    tick = root.get_int("tick")
    factories = root.get_list("factories", _factory)
    if not factories:
        raise ValueError("factories: a game has at least the player's factory")
    names = [f.name for f in factories]
    if len(set(names)) != len(names):
        raise ValueError(f"factories: factory names must be distinct, got {names}")
    if not factories[0].is_player or any(f.is_player for f in factories[1:]):
        raise ValueError("factories: the player's factory, and only it, must come first")
    season = _season(root.get_object("season", _SEASON_KEYS), names, tick)
    ghost_data = root.optional_object("ghost", _GHOST_KEYS)
    ghost = None
    if ghost_data is not None:
        since = ghost_data.get_int("since_tick")
        if since > tick:
            raise ValueError(f"ghost.since_tick: {since} is after the game's tick {tick}")
        ghost = Ghost(
            since_tick=since, factory=_factory(ghost_data.data["factory"], "ghost.factory")
        )
    return GameState(
        seed=root.get_int("seed"),
        tick=tick,
        fair_draws=root.get_bool("fair_draws"),
        factories=tuple(factories),
        progress=_progress(root.get_object("progress", _PROGRESS_KEYS)),
        season=season,
        events=tuple(root.get_list("events", _event)),
        ghost=ghost,
    )


_GAME_KEYS = ("seed", "tick", "fair_draws", "factories", "progress", "season", "events", "ghost")
_SLOT_KEYS = ("index", "engine", "cycle", "status", "downtime_left", "draws")
_FACTORY_KEYS = (
    *("name", "is_player", "strategy", "allowed", "slots", "stream", "node"),
    *("profit", "active_cycles", "maintenances", "failures"),
)
_PROGRESS_KEYS = (
    *("preventative_unlocked", "data_scientist_hired", "cycles_on_local"),
    *("federation_offered", "federation_accepted", "free_play"),
)
_EVENT_KEYS = ("tick", "factory", "slot", "kind", "message")
_SEASON_KEYS = ("goal", "winner", "finished_tick")
_GHOST_KEYS = ("since_tick", "factory")


class _Object:
    """A dict being read, with its path for messages; its keys must be exactly `keys`."""

    def __init__(self, data: Any, path: str, keys: tuple[str, ...]) -> None:
        if not isinstance(data, dict):
            raise ValueError(f"{path or 'the saved game'}: expected an object, got {_kind(data)}")
        missing = [key for key in keys if key not in data]
        extra = sorted(str(key) for key in data if key not in keys)
        if missing:
            raise ValueError(f"{_at(path, missing[0])}: missing")
        if extra:
            raise ValueError(f"{_at(path, extra[0])}: unexpected field")
        self.data: dict[str, Any] = data
        self.path = path

    def field(self, key: str) -> tuple[Any, str]:
        return self.data[key], _at(self.path, key)

    def get_int(self, key: str, minimum: int = 0) -> int:
        """A non-negative (by default) integer; booleans are not integers here."""
        value, path = self.field(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{path}: expected an integer, got {_kind(value)}")
        if value < minimum:
            raise ValueError(f"{path}: must be at least {minimum}, got {value}")
        return value

    def optional_int(self, key: str) -> int | None:
        return None if self.data[key] is None else self.get_int(key)

    def get_float(self, key: str) -> float:
        """A finite number (JSON may write a whole float as an integer)."""
        value, path = self.field(key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ValueError(f"{path}: expected a number, got {_kind(value)}")
        if not math.isfinite(value):
            raise ValueError(f"{path}: must be finite, got {value}")
        return float(value)

    def get_bool(self, key: str) -> bool:
        value, path = self.field(key)
        if not isinstance(value, bool):
            raise ValueError(f"{path}: expected true or false, got {_kind(value)}")
        return value

    def get_str(self, key: str, choices: tuple[str, ...] = ()) -> str:
        value, path = self.field(key)
        return _string(value, path, choices)

    def optional_str(self, key: str) -> str | None:
        return None if self.data[key] is None else self.get_str(key)

    def get_object(self, key: str, keys: tuple[str, ...]) -> _Object:
        value, path = self.field(key)
        return _Object(value, path, keys)

    def optional_object(self, key: str, keys: tuple[str, ...]) -> _Object | None:
        return None if self.data[key] is None else self.get_object(key, keys)

    def get_list(self, key: str, read: Callable[[Any, str], T]) -> list[T]:
        """Each item read by `read(item, its path)`."""
        value, path = self.field(key)
        if not isinstance(value, list):
            raise ValueError(f"{path}: expected a list, got {_kind(value)}")
        return [read(item, f"{path}[{i}]") for i, item in enumerate(value)]


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: Any) -> str:
    return "null" if value is None else f"{type(value).__name__} {value!r}"[:80]


def _string(value: Any, path: str, choices: tuple[str, ...] = ()) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{path}: expected a string, got {_kind(value)}")
    if choices and value not in choices:
        raise ValueError(f"{path}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def _strategy(value: Any, path: str) -> str:
    return _string(value, path, STRATEGIES)


def _slot(data: Any, path: str) -> SlotState:
    obj = _Object(data, path, _SLOT_KEYS)
    status = obj.get_str("status", _STATUSES)
    downtime = obj.get_int("downtime_left")
    if status == "running" and downtime:
        raise ValueError(f"{obj.path}.downtime_left: a running slot has none, got {downtime}")
    return SlotState(
        index=obj.get_int("index"),
        engine=obj.get_int("engine"),
        cycle=obj.get_int("cycle"),
        status=cast(SlotStatus, status),
        downtime_left=downtime,
        draws=obj.get_int("draws", minimum=1),
    )


def _factory(data: Any, path: str) -> FactoryState:
    obj = _Object(data, path, _FACTORY_KEYS)
    strategy = obj.get_str("strategy", STRATEGIES)
    allowed = tuple(obj.get_list("allowed", _strategy))
    if strategy not in allowed:
        raise ValueError(f"{obj.path}.strategy: {strategy!r} is not in its allowed {allowed}")
    slots = tuple(obj.get_list("slots", _slot))
    if [s.index for s in slots] != list(range(len(slots))):
        raise ValueError(f"{obj.path}.slots: slot indexes must be 0, 1, 2... in order")
    return FactoryState(
        name=obj.get_str("name"),
        is_player=obj.get_bool("is_player"),
        strategy=strategy,
        allowed=allowed,
        slots=slots,
        stream=obj.get_int("stream"),
        node=obj.get_int("node"),
        profit=obj.get_float("profit"),
        active_cycles=obj.get_int("active_cycles"),
        maintenances=obj.get_int("maintenances"),
        failures=obj.get_int("failures"),
    )


def _event(data: Any, path: str) -> Event:
    obj = _Object(data, path, _EVENT_KEYS)
    return Event(
        tick=obj.get_int("tick"),
        factory=obj.get_str("factory"),
        slot=obj.optional_int("slot"),
        kind=obj.get_str("kind"),
        message=obj.get_str("message"),
    )


def _progress(obj: _Object) -> Progress:
    return Progress(
        preventative_unlocked=obj.get_bool("preventative_unlocked"),
        data_scientist_hired=obj.get_bool("data_scientist_hired"),
        cycles_on_local=obj.get_int("cycles_on_local"),
        federation_offered=obj.get_bool("federation_offered"),
        federation_accepted=obj.get_bool("federation_accepted"),
        free_play=obj.get_bool("free_play"),
    )


def _season(obj: _Object, names: list[str], tick: int) -> Season:
    goal = obj.get_float("goal")
    if goal <= 0:
        raise ValueError(f"season.goal: must be positive, got {goal}")
    winner = obj.optional_str("winner")
    finished = obj.optional_int("finished_tick")
    if winner is not None and winner not in names:
        raise ValueError(f"season.winner: {winner!r} is none of the factories {names}")
    if (winner is None) != (finished is None):
        raise ValueError("season.finished_tick: set exactly when season.winner is")
    if finished is not None and finished > tick:
        raise ValueError(f"season.finished_tick: {finished} is after the game's tick {tick}")
    return Season(goal=goal, winner=winner, finished_tick=finished)

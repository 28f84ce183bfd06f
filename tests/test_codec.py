"""Saved games: a state goes to JSON and back exactly, and a corrupt file is refused by name.

The states come from real games on the held-out engines (a ghost, a season won, a full event log),
played with the fast path to keep the test quick (tests/test_fast_game.py shows it equals the
reference). Every corruption must raise `ValueError` naming the field, never load wrong.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from app.game import progress as rules
from app.game.codec import CODEC_VERSION, state_from_dict, state_to_dict
from app.game.decisions import DecisionTables
from app.game.fast import FastGame
from app.game.settings import GameSettings
from app.game.simulation import new_game
from app.game.state import GameState

SETTINGS = GameSettings(
    season_goal=1_000_000.0, federation_offer_after_cycles=50, hire_offer_after_stops=0
)


def play(game: FastGame, ticks: int) -> FastGame:
    for _ in range(ticks):
        game.step()
    return game


@pytest.fixture(scope="module")
def real_states(game_models) -> list[GameState]:
    """States along a real game: fresh, mid-unlocks, with a ghost, and after the season's end."""
    pool = game_models.traces
    tables = DecisionTables(pool, SETTINGS)
    state = new_game(pool, SETTINGS, 3)
    states = [state]
    game = play(FastGame.from_state(state, pool, SETTINGS, tables), 400)
    states.append(game.state())
    state = rules.set_strategy(rules.hire_data_scientist(game.state(), SETTINGS), "local", SETTINGS)
    game = play(FastGame.from_state(state, pool, SETTINGS, tables), 200)
    state = rules.accept_federation(game.state(), SETTINGS)
    state = rules.set_strategy(state, "federated", SETTINGS)
    states.append(state)
    game = play(FastGame.from_state(state, pool, SETTINGS, tables), 3_000)
    states.append(game.state())
    states.append(rules.set_free_play(game.state(), True, SETTINGS))
    final = states[-1]
    assert final.ghost is not None and final.season.winner is not None and final.events
    return states


def only_json_types(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and only_json_types(v) for k, v in value.items())
    if isinstance(value, list):
        return all(only_json_types(v) for v in value)
    return value is None or type(value) in (str, int, float, bool)


def test_real_states_roundtrip_exactly_through_json(real_states: list[GameState]) -> None:
    for state in real_states:
        data = state_to_dict(state)
        assert data["codec_version"] == CODEC_VERSION
        assert only_json_types(data)
        assert state_from_dict(data) == state
        assert state_from_dict(json.loads(json.dumps(data))) == state


def _set(path: list[Any], value: Any) -> Any:
    def corrupt(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value

    return corrupt


_DELETE = object()

CORRUPTIONS = [
    ("missing key", _set(["progress", "free_play"], _DELETE), r"progress\.free_play: missing"),
    ("missing top key", _set(["seed"], _DELETE), r"^seed: missing"),
    ("extra key", _set(["season", "prize"], 1), r"season\.prize: unexpected"),
    ("wrong type", _set(["tick"], "12"), r"^tick: expected an integer"),
    ("bool as int", _set(["factories", 0, "failures"], True), r"factories\[0\]\.failures"),
    ("float as int", _set(["factories", 1, "slots", 2, "cycle"], 1.5), r"slots\[2\]\.cycle"),
    ("negative tick", _set(["tick"], -1), r"^tick: must be at least 0"),
    ("bad strategy", _set(["factories", 1, "strategy"], "psychic"), r"factories\[1\]\.strategy"),
    ("bad allowed", _set(["factories", 0, "allowed", 1], "magic"), r"factories\[0\]\.allowed\[1\]"),
    ("bad status", _set(["factories", 0, "slots", 0, "status"], "broken"), r"slots\[0\]\.status"),
    ("nan profit", _set(["factories", 2, "profit"], float("nan")), r"factories\[2\]\.profit"),
    ("list as object", _set(["progress"], []), r"^progress: expected an object"),
    ("null list", _set(["events"], None), r"^events: expected a list"),
    ("event slot", _set(["events", 0, "slot"], "one"), r"events\[0\]\.slot"),
    ("ghost slot", _set(["ghost", "factory", "slots", 1, "draws"], 0), r"ghost\.factory\.slots"),
    ("unknown winner", _set(["season", "winner"], "Nobody Ltd"), r"season\.winner"),
    ("finish w/o winner", _set(["season", "winner"], None), r"season\.finished_tick"),
    ("version", _set(["codec_version"], 2), r"codec_version"),
    ("no version", _set(["codec_version"], _DELETE), r"codec_version"),
    ("bool version", _set(["codec_version"], True), r"codec_version"),
    ("running with downtime", _set(["factories", 0, "slots", 3, "downtime_left"], 5), r"slots"),
    ("two players", _set(["factories", 1, "is_player"], True), r"^factories: the player"),
]


@pytest.mark.parametrize(
    ("label", "corrupt", "message"), CORRUPTIONS, ids=[c[0] for c in CORRUPTIONS]
)
def test_corrupt_saves_are_refused_naming_the_field(
    real_states: list[GameState], label: str, corrupt: Any, message: str
) -> None:
    data = copy.deepcopy(state_to_dict(real_states[-1]))
    if label == "running with downtime":  # a slot that is running in this state
        slot = next(i for i, s in enumerate(real_states[-1].player.slots) if s.status == "running")
        data["factories"][0]["slots"][slot]["downtime_left"] = 5
    else:
        corrupt(data)
    with pytest.raises(ValueError, match=message):
        state_from_dict(data)


@pytest.mark.parametrize("data", [None, [], "game", 1])
def test_a_save_that_is_not_an_object_is_refused(data: Any) -> None:
    with pytest.raises(ValueError, match="must be an object"):
        state_from_dict(data)


def test_the_fast_json_is_the_dict_as_json(game_models) -> None:  # type: ignore[no-untyped-def]
    """Saving uses `state_to_json` (orjson on the dataclasses); it must say what
    `state_to_dict` says, and read back to the same state."""
    import orjson

    from app.game import progress
    from app.game.codec import state_from_dict, state_to_dict, state_to_json
    from app.game.settings import GameSettings
    from app.game.simulation import new_game, run

    pool, settings = game_models.traces, GameSettings()
    state = progress.set_free_play(new_game(pool, settings, seed=2), True, settings)
    state = run(progress.set_strategy(state, "federated", settings), pool, settings, 700)
    data = orjson.loads(state_to_json(state))
    assert data == state_to_dict(state)
    assert state_from_dict(data) == state

"""Delta frames rebuild exactly the full state: patches made by `app.web.delta.diff`, applied in
order (after a trip through JSON, as on the wire), equal the views they were made from."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import orjson
import pytest
from crafted_engines import noisy_pool
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.game.decisions import DecisionTables
from app.game.progress import GameRuleError
from app.web import delta
from app.web.frames import delta_frame, factory_names
from app.web.schemas import (
    AcceptFederation,
    DeltaFrame,
    FreePlay,
    HireDataScientist,
    Reset,
    SetSpeed,
    SetStrategy,
)
from app.web.session import GameSession
from app.web.settings import Settings

POOL = noisy_pool()
SETTINGS = Settings()
TABLES = DecisionTables(POOL, SETTINGS.game)

COMMANDS = st.one_of(
    st.builds(
        SetStrategy,
        type=st.just("set_strategy"),
        strategy=st.sampled_from(["corrective", "preventative", "local", "federated"]),
    ),
    st.builds(FreePlay, type=st.just("free_play"), enabled=st.booleans()),
    st.builds(HireDataScientist, type=st.just("hire_data_scientist")),
    st.builds(AcceptFederation, type=st.just("accept_federation")),
    st.builds(
        SetSpeed, type=st.just("set_speed"), ticks_per_second=st.sampled_from([0.0, 2.0, 50.0])
    ),
    st.builds(Reset, type=st.just("reset"), seed=st.none() | st.integers(0, 5)),
)
# An action: play some ticks, or apply a command.
ACTIONS = st.lists(st.one_of(st.integers(1, 400), COMMANDS), min_size=1, max_size=30)


def _wire(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), actions=ACTIONS)
def test_patches_applied_in_order_rebuild_every_state(seed: int, actions: list[Any]) -> None:
    session = GameSession(SETTINGS, POOL, TABLES, seed=seed)
    sent = session.view()
    client = _wire(sent)
    history_tick = session.history.last_tick
    for action in actions:
        if isinstance(action, int):
            session.running = True
            session.advance(action)
        else:
            with contextlib.suppress(GameRuleError):
                session.handle(action)
        view = session.view()
        patch = delta.diff(sent, view) or {}
        fast = session.patch(sent, view)  # what the server sends: the same states, built faster
        assert delta.apply(_wire(sent), _wire(fast)) == _wire(view)
        points = session.history.since(history_tick)
        frame = _wire(
            orjson.loads(delta_frame(7, view["tick"], patch, points, factory_names(view)))
        )
        DeltaFrame.model_validate(frame)
        client = delta.apply(client, frame["patch"])
        assert client == _wire(view)
        sent, history_tick = view, session.history.last_tick


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"a": 1}, {"a": 1.5}),
        ({"a": None}, {"a": {"b": 1}}),
        ({"a": {"b": 1}}, {"a": None}),
        ({"a": {"b": 1}}, {"a": {"c": 1}}),  # other keys: replaced with "="
        ({"a": [1, 2, 3]}, {"a": [1, 2]}),
        ({"a": [1, 2, 3, 4]}, {"a": [1, 2, 3, 5]}),
        ({"a": [1, 2, 3, 4]}, {"a": [9, 8, 7, 6]}),
        ({"a": [{"t": 1}, {"t": 2}]}, {"a": [{"t": 2}, {"t": 3}]}),  # a shifted log
        ({"a": [{"t": 1}, {"t": 2}]}, {"a": [{"t": 5}]}),
        ({"a": []}, {"a": [1]}),
        ({"a": [1]}, {"a": []}),
        ({"a": True}, {"a": 1}),
        ({"a": "x"}, {"a": "y"}),
        ({"a": {"=": 1}}, {"a": {"=": 2}}),
    ],
)
def test_every_kind_of_change_round_trips(old: dict[str, Any], new: dict[str, Any]) -> None:
    patch = delta.diff(old, new)
    assert patch is not None
    assert delta.apply(copy.deepcopy(old), _wire(patch)) == new
    assert delta.diff(new, copy.deepcopy(new)) is None


def test_a_shifted_event_log_sends_only_the_new_entries() -> None:
    old = {"events": [{"tick": t, "message": f"event {t}"} for t in range(10)]}
    new = {"events": [*old["events"][1:], {"tick": 10, "message": "event 10"}]}
    assert delta.diff(old, new) == {"events": {"~": [1, [{"tick": 10, "message": "event 10"}]]}}

"""The server for real: uvicorn on a free loopback port, HTTP with httpx, the game over websockets.

Every websocket test first pauses its session, so what follows is driven by its own commands
only: each command is answered by exactly one frame, and no test depends on timing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest
import websockets
from crafted_engines import engine

from app.game.history import ProfitHistory
from app.game.settings import GameSettings
from app.game.simulation import new_game, run
from app.game.state import SlotState
from app.web.connection import Outbox
from app.web.schemas import ErrorFrame, GameStateView, HistoryPoint, SnapshotFrame, TickFrame
from app.web.views import history_view, slot_view

# Hang guards only (a broken server fails the test instead of blocking the suite), never a
# measure of speed.
RECV_GUARD_S = 20.0

STRATEGIES = ["corrective", "preventative", "local", "federated"]


@pytest.fixture(scope="module")
def game_models_for_server(game_models: Any) -> Any:
    """The real held-out engines and trained models from the engine (tests/conftest.py)."""
    return game_models


@pytest.fixture(scope="module")
def base_url(live_server: str) -> str:
    """The real server of tests/conftest.py, as host:port."""
    return live_server


# ---------------------------------------------------------------- HTTP


def test_health(base_url: str, game_models_for_server: Any) -> None:
    r = httpx.get(f"http://{base_url}/api/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "engines": len(game_models_for_server.traces)}


def test_config_strategies_and_models(base_url: str, game_models_for_server: Any) -> None:
    config = httpx.get(f"http://{base_url}/api/config").json()
    assert config["feature_names"] == list(game_models_for_server.feature_names)
    assert len(config["feature_names"]) == 16
    assert (config["revenue_per_cycle"], config["maintenance_cost"], config["failure_cost"]) == (
        250,
        10_000,
        60_000,
    )
    assert (config["maintenance_downtime"], config["failure_downtime"]) == (20, 60)
    assert (config["preventative_cycle"], config["rul_threshold"]) == (193, 10)
    assert config["max_ticks_per_second"] == 50
    assert [s["name"] for s in config["strategies"]] == STRATEGIES
    assert any("4 failures" in rule for rule in config["unlock_rules"])
    strategies = httpx.get(f"http://{base_url}/api/strategies").json()
    assert strategies == config["strategies"]
    assert all(s["label"] and s["description"] and s["unlock_hint"] for s in strategies)
    models = httpx.get(f"http://{base_url}/api/models").json()
    for key in ("naive_rmse", "centralized_rmse", "local_rmse", "federated_rmse"):
        assert models[key] == pytest.approx(game_models_for_server.metrics[key])
    curve = game_models_for_server.metrics["federated_curve"]
    assert models["federated_curve"] == pytest.approx(curve)
    # Each factory's own local model, next to the federated one.
    factories = models["factories"]
    assert [f["node"] for f in factories] == list(range(80))
    lates = [f["late_life_rmse"] for f in factories]
    assert models["local_late_life_rmse"] == pytest.approx(float(np.median(lates)))
    assert models["federated_late_life_rmse"] > 0 and models["model"] == "window"


def test_dashboard_static_files_and_docs(base_url: str) -> None:
    page = httpx.get(f"http://{base_url}/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert httpx.get(f"http://{base_url}/static/vendor/uplot/LICENSE").status_code == 200
    assert httpx.get(f"http://{base_url}/static/nope.js").status_code == 404
    assert httpx.get(f"http://{base_url}/docs").status_code == 200
    paths = httpx.get(f"http://{base_url}/openapi.json").json()["paths"]
    assert {"/api/health", "/api/config", "/api/strategies", "/api/models"} <= set(paths)


# ---------------------------------------------------------------- websocket helpers


class Player:
    """A websocket client that reads frames as JSON."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws

    async def recv(self) -> dict:
        return json.loads(await asyncio.wait_for(self.ws.recv(), RECV_GUARD_S))

    async def until(self, accept: Callable[[dict], bool]) -> dict:
        while not accept(frame := await self.recv()):
            pass
        return frame

    async def send(self, message: dict | str | bytes) -> dict:
        """Send one message and return the one frame that answers it (session paused)."""
        await self.ws.send(message if isinstance(message, (str, bytes)) else json.dumps(message))
        return await self.recv()

    async def step(self) -> dict:
        return await self.send({"type": "step"})


async def paused_player(base_url: str, stack: Any) -> tuple[Player, dict]:
    """Connect, read the snapshot, pause, and wait until the pause is acknowledged."""
    ws = await stack.enter_async_context(websockets.connect(f"ws://{base_url}/ws/game"))
    player = Player(ws)
    snapshot = await player.recv()
    await ws.send(json.dumps({"type": "pause"}))
    await player.until(lambda f: f["type"] == "tick" and not f["state"]["running"])
    return player, snapshot


def play(scenario: Callable[..., Any], *args: Any) -> Any:
    """Run an async scenario with an exit stack for its connections."""
    from contextlib import AsyncExitStack

    async def main() -> Any:
        async with AsyncExitStack() as stack:
            return await scenario(stack, *args)

    return asyncio.run(main())


def player_of(frame: dict) -> dict:
    return frame["state"]["factories"][0]


# ---------------------------------------------------------------- websocket


def test_snapshot_on_connect(base_url: str) -> None:
    async def scenario(stack: Any) -> dict:
        ws = await stack.enter_async_context(websockets.connect(f"ws://{base_url}/ws/game"))
        return await Player(ws).recv()

    frame = play(scenario)
    assert frame["type"] == "snapshot"
    assert set(frame) >= {"config", "models", "state", "history"}
    state = GameStateView.model_validate(frame["state"])
    assert (state.seed, state.tick, state.running, state.free_play) == (0, 0, True, False)
    assert state.ticks_per_second == 2
    assert state.unlocked == ["corrective"]
    assert not state.offers.hire_data_scientist and not state.offers.federation
    names = [f.name for f in state.factories]
    assert [f.is_player for f in state.factories] == [True, False, False, False]
    strategies = [f.strategy for f in state.factories]
    assert strategies == ["corrective", "corrective", "preventative", "local"]
    assert state.factories[1].allowed_strategies == ["corrective", "preventative", "local"]
    for factory in state.factories:
        assert len(factory.slots) == 4
        assert [s.cycle for s in factory.slots] == [0, 0, 0, 0]
        assert all(s.sensors == [] and s.local_rul is None for s in factory.slots)
    assert frame["history"] == {
        "tick": [0],
        "profit": {name: [0.0] for name in names},
        "ghost": [None],  # no ghost before the player first chooses federated
    }
    assert state.ghost is None
    assert state.season.goal == 3_000_000 and state.season.winner is None
    nodes = [f.node for f in state.factories]
    assert len(set(nodes)) == len(nodes)


def test_ticks_arrive_at_the_session_speed(base_url: str) -> None:
    async def scenario(stack: Any) -> list[dict]:
        ws = await stack.enter_async_context(websockets.connect(f"ws://{base_url}/ws/game"))
        player = Player(ws)
        await player.recv()
        await ws.send(json.dumps({"type": "set_speed", "ticks_per_second": 50}))
        frames = []
        while not frames or frames[-1]["state"]["tick"] < 10:
            frames.append(await player.until(lambda f: f["type"] == "tick"))
        return frames

    frames = play(scenario)
    ticks = [f["state"]["tick"] for f in frames]
    assert ticks == sorted(ticks)
    last = TickFrame.model_validate(frames[-1])
    assert last.state.running and last.state.ticks_per_second == 50
    assert last.history_point.tick == last.state.tick
    assert set(last.history_point.profit) == {f.name for f in last.state.factories}
    for factory in last.state.factories:
        assert last.history_point.profit[factory.name] == factory.profit
        costs = 10_000 * factory.maintenances + 60_000 * factory.failures
        assert factory.profit == 250 * factory.active_cycles - costs
        for slot in factory.slots:
            assert slot.status != "running" or len(slot.sensors) == 16


def test_pause_step_and_resume(base_url: str) -> None:
    async def scenario(stack: Any) -> None:
        player, _ = await paused_player(base_url, stack)
        first = await player.step()
        second = await player.step()
        assert first["type"] == second["type"] == "tick"
        assert second["state"]["tick"] == first["state"]["tick"] + 1
        assert not second["state"]["running"]
        assert second["history_point"]["tick"] == second["state"]["tick"]
        resumed = await player.send({"type": "resume"})
        assert resumed["state"]["running"]
        later = await player.until(lambda f: f["state"]["tick"] > second["state"]["tick"])
        assert later["type"] == "tick"

    play(scenario)


def test_set_speed(base_url: str) -> None:
    async def scenario(stack: Any) -> None:
        player, _ = await paused_player(base_url, stack)
        frame = await player.send({"type": "set_speed", "ticks_per_second": 10})
        assert frame["state"]["running"] and frame["state"]["ticks_per_second"] == 10
        await player.ws.send(json.dumps({"type": "set_speed", "ticks_per_second": 0}))
        frame = await player.until(lambda f: f["state"]["ticks_per_second"] == 0)
        assert not frame["state"]["running"]
        error = await player.send({"type": "set_speed", "ticks_per_second": 51})
        assert error == {"type": "error", "message": error["message"]}
        assert "between 0 and 50" in error["message"]
        error = await player.send({"type": "set_speed", "ticks_per_second": -1})
        assert "ticks_per_second must be a number, 0 or more" in error["message"]
        frame = await player.send({"type": "resume"})  # at speed 0, resume uses the default
        assert frame["state"]["running"] and frame["state"]["ticks_per_second"] == 2

    play(scenario)


def test_strategies_unlock_and_lock_over_the_websocket(base_url: str) -> None:
    """The whole progression with the default rules, driven by step commands."""

    async def scenario(stack: Any) -> None:
        player, _ = await paused_player(base_url, stack)
        error = await player.send({"type": "set_strategy", "strategy": "preventative"})
        assert error["type"] == "error" and "'preventative' is locked" in error["message"]
        error = await player.send({"type": "hire_data_scientist"})
        assert error["type"] == "error" and "no data scientist is on offer" in error["message"]
        error = await player.send({"type": "accept_federation"})
        assert error["type"] == "error" and "no federation offer yet" in error["message"]

        frame = await player.step()
        while not frame["state"]["offers"]["hire_data_scientist"]:
            frame = await player.step()
        assert player_of(frame)["failures"] == 4
        assert frame["state"]["unlocked"] == ["corrective", "preventative"]
        frame = await player.send({"type": "set_strategy", "strategy": "preventative"})
        assert player_of(frame)["strategy"] == "preventative"

        frame = await player.send({"type": "hire_data_scientist"})
        assert frame["state"]["unlocked"] == ["corrective", "preventative", "local"]
        assert not frame["state"]["offers"]["hire_data_scientist"]
        frame = await player.send({"type": "set_strategy", "strategy": "local"})
        assert player_of(frame)["strategy"] == "local"
        start = frame["state"]["tick"]
        while not frame["state"]["offers"]["federation"]:
            frame = await player.step()
        assert frame["state"]["tick"] - start == 100
        frame = await player.send({"type": "accept_federation"})
        assert frame["state"]["unlocked"] == STRATEGIES
        frame = await player.send({"type": "set_strategy", "strategy": "federated"})
        assert player_of(frame)["strategy"] == "federated"
        assert player_of(frame)["allowed_strategies"] == STRATEGIES
        kinds = [e["kind"] for e in frame["state"]["events"]]
        assert {"unlock", "hire", "offer", "strategy"} <= set(kinds)

    play(scenario)


def test_free_play(base_url: str) -> None:
    async def scenario(stack: Any) -> None:
        player, _ = await paused_player(base_url, stack)
        frame = await player.send({"type": "free_play", "enabled": True})
        assert frame["state"]["free_play"] and frame["state"]["unlocked"] == STRATEGIES
        frame = await player.send({"type": "set_strategy", "strategy": "federated"})
        assert player_of(frame)["strategy"] == "federated"
        # The competitors stay within their cap whatever the player does.
        assert [f["strategy"] for f in frame["state"]["factories"][1:]] == [
            "corrective",
            "preventative",
            "local",
        ]
        frame = await player.send({"type": "reset", "seed": 3})  # free play survives a reset
        assert frame["type"] == "snapshot" and frame["state"]["free_play"]
        frame = await player.send({"type": "set_strategy", "strategy": "federated"})
        frame = await player.send({"type": "free_play", "enabled": False})
        assert not frame["state"]["free_play"]
        assert frame["state"]["unlocked"] == ["corrective"]
        assert player_of(frame)["strategy"] == "corrective"

    play(scenario)


def test_reset_starts_a_new_game(base_url: str) -> None:
    async def scenario(stack: Any) -> None:
        player, snapshot = await paused_player(base_url, stack)
        for _ in range(5):
            await player.step()
        frame = await player.send({"type": "reset", "seed": 7})
        assert frame["type"] == "snapshot"
        assert (frame["state"]["seed"], frame["state"]["tick"]) == (7, 0)
        assert frame["history"]["tick"] == [0]
        assert not frame["state"]["running"]  # the pace is the session's, kept across resets
        assert frame["config"] == snapshot["config"] and frame["models"] == snapshot["models"]
        seven = [s["engine_id"] for s in player_of(frame)["slots"]]
        await player.step()
        frame = await player.send({"type": "reset"})  # same seed again: the same engines
        assert (frame["state"]["seed"], frame["state"]["tick"]) == (7, 0)
        assert [s["engine_id"] for s in player_of(frame)["slots"]] == seven
        frame = await player.send({"type": "reset", "seed": 0})
        assert [s["engine_id"] for s in player_of(frame)["slots"]] == [
            s["engine_id"] for s in player_of(snapshot)["slots"]
        ]

    play(scenario)


BAD_MESSAGES = {
    "bad JSON": ("{not json", "invalid JSON"),
    "not an object": ("[1, 2]", "must be a JSON object"),
    "no type": ('{"strategy": "local"}', "no 'type' field"),
    "unknown type": ('{"type": "buy_engine"}', "unknown command type 'buy_engine'"),
    "missing field": ('{"type": "set_strategy"}', "missing field 'strategy'"),
    "unknown strategy": ('{"type": "set_strategy", "strategy": "oracle"}', "strategy: Input"),
    "extra field": ('{"type": "pause", "now": true}', "unexpected field 'now'"),
    "speed not a number": (
        '{"type": "set_speed", "ticks_per_second": NaN}',
        "ticks_per_second must be a number, 0 or more (0 pauses) (got nan)",
    ),
    "seed too large": (
        '{"type": "reset", "seed": 4294967296}',
        "seed must be a whole number from 0 to 4294967295 (got 4294967296)",
    ),
    "negative seed": ('{"type": "reset", "seed": -3}', "seed must be a whole number from 0"),
    "fractional seed": ('{"type": "reset", "seed": 1.5}', "seed must be a whole number from 0"),
    "wrong value type": ('{"type": "free_play", "enabled": "sometimes"}', "enabled"),
    "oversized": (json.dumps({"type": "reset", "pad": "x" * 5000}), "message too large"),
    "binary": (b"\x00\x01", "binary messages are not accepted"),
    "locked strategy": ('{"type": "set_strategy", "strategy": "federated"}', "is locked"),
}


@pytest.mark.parametrize("name", list(BAD_MESSAGES))
def test_bad_messages_get_an_error_frame_and_the_session_goes_on(base_url: str, name: str) -> None:
    message, expected = BAD_MESSAGES[name]

    async def scenario(stack: Any) -> None:
        player, _ = await paused_player(base_url, stack)
        before = await player.step()
        error = await player.send(message)
        ErrorFrame.model_validate(error)
        assert error["type"] == "error"
        assert expected in error["message"]
        after = await player.step()
        assert after["state"]["tick"] == before["state"]["tick"] + 1

    play(scenario)


def test_two_sessions_are_independent(base_url: str) -> None:
    async def scenario(stack: Any) -> None:
        alice, _ = await paused_player(base_url, stack)
        bob, _ = await paused_player(base_url, stack)
        await alice.send({"type": "free_play", "enabled": True})
        await alice.send({"type": "set_strategy", "strategy": "federated"})
        base_a = (await alice.step())["state"]["tick"]
        base_b = (await bob.step())["state"]["tick"]
        for _ in range(3):
            frame_a = await alice.step()
        frame_b = await bob.step()
        assert frame_a["state"]["tick"] == base_a + 3
        assert frame_b["state"]["tick"] == base_b + 1
        assert player_of(frame_a)["strategy"] == "federated"
        assert player_of(frame_b)["strategy"] == "corrective"
        assert not frame_b["state"]["free_play"]
        frame_b = await bob.send({"type": "reset", "seed": 9})
        frame_a = await alice.step()
        assert frame_b["state"]["seed"] == 9 and frame_a["state"]["seed"] == 0
        assert frame_a["state"]["tick"] == base_a + 4

    play(scenario)


# ---------------------------------------------------------------- slow clients


def _tick_frame(tick: int) -> TickFrame:
    state = GameStateView(
        seed=0,
        tick=tick,
        running=True,
        ticks_per_second=50,
        free_play=False,
        unlocked=["corrective"],
        offers={"hire_data_scientist": False, "federation": False},
        factories=[],
        events=[],
        season={"goal": 3_000_000, "winner": None, "finished_tick": None},
    )
    return TickFrame(state=state, history_point=HistoryPoint(tick=tick, profit={}))


def test_a_slow_client_gets_the_latest_state_not_a_queue() -> None:
    """States produced faster than they are sent replace each other; errors all arrive, in order."""

    async def scenario() -> list:
        outbox = Outbox()
        for tick in range(1, 1001):
            outbox.put_latest(_tick_frame(tick))
        await outbox.put_ordered(ErrorFrame(message="first"))
        await outbox.put_ordered(ErrorFrame(message="second"))
        return [await outbox.next() for _ in range(3)]

    first, second, latest = asyncio.run(scenario())
    assert (first.message, second.message) == ("first", "second")
    assert latest.state.tick == 1000


def test_a_snapshot_supersedes_states_not_yet_sent() -> None:
    """After a reset, a state of the old game must never follow the new game's snapshot."""

    async def scenario() -> list:
        outbox = Outbox()
        outbox.put_latest(_tick_frame(41))
        snapshot = SnapshotFrame.model_construct(type="snapshot")
        await outbox.put_ordered(snapshot)
        outbox.put_latest(_tick_frame(1))
        return [await outbox.next() for _ in range(2)]

    snapshot, latest = asyncio.run(scenario())
    assert snapshot.type == "snapshot"
    assert latest.state.tick == 1


# ---------------------------------------------------------------- views and history


def test_a_slot_shows_the_readings_and_predictions_of_its_current_cycle() -> None:
    pool = [engine(10, "E10", local_error=2.0, federated_error=-1.0)]
    view = slot_view(SlotState(index=2, engine=0, cycle=4), pool)
    assert (view.index, view.engine_id, view.cycle, view.status) == (2, "E10", 4, "running")
    assert view.sensors == [4.0] * 16  # crafted sensors hold the cycle number
    assert (view.local_rul, view.federated_rul) == (6.0 + 2.0, 6.0 - 1.0)  # true RUL 10 - 4


def test_profit_history_keeps_one_point_per_tick_and_only_the_latest() -> None:
    pool = [engine(5)]
    settings = GameSettings(n_competitors=1)
    history = ProfitHistory(limit=3)
    state = new_game(pool, settings, seed=0)
    history.record(state)
    for _ in range(5):
        state = run(state, pool, settings, 1)
        history.record(state)
        history.record(state)  # a repeated tick is not a new point
    kept = history_view(history)
    assert kept.tick == [3, 4, 5]
    assert kept.profit["Your factory"] == [3000.0, 4000.0, 5 * 1000.0 - 4 * 60_000]

"""The server for real: uvicorn on a free loopback port, HTTP with httpx, the game over websockets.

Every websocket test plays through `app.web.client.GameClient`, which rebuilds the state from
delta frames as the dashboard does. Most first pause their game, so what follows is driven by
their own commands only: each command is answered by one frame, and no test depends on timing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from servers import running_server

from app.web.client import GameClient
from app.web.schemas import DeltaFrame, ErrorFrame, GameStateView

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
    health = r.json()
    assert health["status"] == "ok" and health["engines"] == len(game_models_for_server.traces)
    assert health["games"] >= 0 and health["ticking"] <= health["games"]


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


async def paused_player(base_url: str) -> tuple[GameClient, dict]:
    """Connect, read the snapshot, pause, and wait until the pause shows."""
    player = await GameClient.connect(base_url)
    snapshot = await player.recv()
    await player.send({"type": "pause"})
    await player.until(lambda f: player.state is not None and not player.state["running"])
    return player, snapshot


def play(scenario: Callable[[], Any]) -> Any:
    """Run an async scenario; a broken server fails it instead of hanging the suite."""
    return asyncio.run(asyncio.wait_for(scenario(), RECV_GUARD_S * 3))


def player_of(state: dict) -> dict:
    return state["factories"][0]


# ---------------------------------------------------------------- websocket


def test_snapshot_on_connect(base_url: str) -> None:
    async def scenario() -> dict:
        client = await GameClient.connect(base_url)
        frame = await client.recv()
        await client.close()
        return frame

    frame = play(scenario)
    assert frame["type"] == "snapshot"
    assert set(frame) >= {"config", "models", "state", "history", "session_id", "seq"}
    assert frame["seq"] == 1 and len(frame["session_id"]) >= 16 and not frame["resumed"]
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


def test_frames_at_speed_50_batch_ticks_and_rebuild_the_state(base_url: str) -> None:
    async def scenario() -> tuple[GameClient, list[dict]]:
        player = await GameClient.connect(base_url)
        await player.recv()
        await player.send({"type": "set_speed", "ticks_per_second": 50})
        frames = []
        while player.state is None or player.state["tick"] < 60:
            frames.append(await player.until(lambda f: f["type"] == "delta"))
        await player.close()
        return player, frames

    player, frames = play(scenario)
    ticks = [f["tick"] for f in frames]
    assert ticks == sorted(ticks)
    # At most ~20 frames a second: at 50 ticks/s most frames carry several ticks.
    assert sum(len(f["points"]["tick"]) for f in frames) == ticks[-1]
    assert max(len(f["points"]["tick"]) for f in frames) >= 2
    for frame in frames:
        DeltaFrame.model_validate(frame)
    state = GameStateView.model_validate(player.state)
    assert state.running and state.ticks_per_second == 50 and state.tick == ticks[-1]
    history = player.history
    assert history["tick"] == list(range(state.tick + 1))  # every tick's point arrived once
    for factory in state.factories:
        assert history["profit"][factory.name][-1] == factory.profit
        costs = 10_000 * factory.maintenances + 60_000 * factory.failures
        assert factory.profit == 250 * factory.active_cycles - costs
        for slot in factory.slots:
            if factory.is_player:
                assert slot.status != "running" or len(slot.sensors) == 16
            else:  # competitors' readings are not sent (docs/protocol.md)
                assert slot.sensors == [] and slot.local_rul is None


def test_pause_step_and_resume(base_url: str) -> None:
    async def scenario() -> None:
        player, _ = await paused_player(base_url)
        first = await player.step()
        tick = player.state["tick"]
        second = await player.step()
        assert first["type"] == second["type"] == "delta"
        assert second["tick"] == player.state["tick"] == tick + 1
        assert not player.state["running"]
        assert second["points"]["tick"] == [second["tick"]]
        await player.command({"type": "resume"})
        assert player.state["running"]
        await player.until(lambda f: player.state["tick"] > tick + 1)
        await player.close()

    play(scenario)


def test_set_speed(base_url: str) -> None:
    async def scenario() -> None:
        player, _ = await paused_player(base_url)
        await player.command({"type": "set_speed", "ticks_per_second": 10})
        assert player.state["running"] and player.state["ticks_per_second"] == 10
        await player.send({"type": "set_speed", "ticks_per_second": 0})
        await player.until(lambda f: player.state["ticks_per_second"] == 0)
        assert not player.state["running"]
        for speed, expected in [
            (51, "from 0.1 to 50"),
            (5e-324, "from 0.1 to 50"),
            (-1, "ticks_per_second must be a number, 0 or more"),
            (True, "ticks_per_second must be a number"),
        ]:
            error = await player.command({"type": "set_speed", "ticks_per_second": speed})
            assert error == {"type": "error", "message": error["message"]}
            assert expected in error["message"], (speed, error)
        await player.command({"type": "resume"})  # at speed 0, resume uses the default
        assert player.state["running"] and player.state["ticks_per_second"] == 2
        await player.close()

    play(scenario)


@pytest.fixture(scope="module")
def unlimited_url(game_models: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server without a practical command rate limit, for tests that step hundreds of ticks."""
    database = tmp_path_factory.mktemp("unlimited") / "games.sqlite3"
    with running_server(
        game_models, commands_per_second=10_000, command_burst=10_000, database=database
    ) as url:
        yield url


def test_strategies_unlock_and_lock_over_the_websocket(unlimited_url: str) -> None:
    """The whole progression with the default rules, driven by step commands."""

    async def scenario() -> None:
        player, _ = await paused_player(unlimited_url)
        error = await player.command({"type": "set_strategy", "strategy": "preventative"})
        assert error["type"] == "error" and "'preventative' is locked" in error["message"]
        error = await player.command({"type": "hire_data_scientist"})
        assert error["type"] == "error" and "no data scientist is on offer" in error["message"]
        error = await player.command({"type": "accept_federation"})
        assert error["type"] == "error" and "no federation offer yet" in error["message"]

        await player.step()
        while not player.state["offers"]["hire_data_scientist"]:
            await player.step()
        # 4 failures unlock preventative; the offer comes at the next one (hire_offer_after_stops)
        assert player_of(player.state)["failures"] == 4 + 1
        assert player.state["unlocked"] == ["corrective", "preventative"]
        await player.command({"type": "set_strategy", "strategy": "preventative"})
        assert player_of(player.state)["strategy"] == "preventative"

        await player.command({"type": "hire_data_scientist"})
        assert player.state["unlocked"] == ["corrective", "preventative", "local"]
        assert not player.state["offers"]["hire_data_scientist"]
        await player.command({"type": "set_strategy", "strategy": "local"})
        assert player_of(player.state)["strategy"] == "local"
        start = player.state["tick"]
        while not player.state["offers"]["federation"]:
            await player.step()
        assert player.state["tick"] - start == 100
        await player.command({"type": "accept_federation"})
        assert player.state["unlocked"] == STRATEGIES
        await player.command({"type": "set_strategy", "strategy": "federated"})
        assert player_of(player.state)["strategy"] == "federated"
        assert player_of(player.state)["allowed_strategies"] == STRATEGIES
        kinds = [e["kind"] for e in player.state["events"]]
        assert {"unlock", "hire", "offer", "strategy"} <= set(kinds)
        await player.close()

    play(scenario)


def test_free_play(base_url: str) -> None:
    async def scenario() -> None:
        player, _ = await paused_player(base_url)
        await player.command({"type": "free_play", "enabled": True})
        assert player.state["free_play"] and player.state["unlocked"] == STRATEGIES
        await player.command({"type": "set_strategy", "strategy": "federated"})
        assert player_of(player.state)["strategy"] == "federated"
        # The competitors stay within their cap whatever the player does.
        assert [f["strategy"] for f in player.state["factories"][1:]] == [
            "corrective",
            "preventative",
            "local",
        ]
        frame = await player.command({"type": "reset", "seed": 3})  # free play survives a reset
        assert frame["type"] == "snapshot" and frame["state"]["free_play"]
        await player.command({"type": "set_strategy", "strategy": "federated"})
        await player.command({"type": "free_play", "enabled": False})
        assert not player.state["free_play"]
        assert player.state["unlocked"] == ["corrective"]
        assert player_of(player.state)["strategy"] == "corrective"
        await player.close()

    play(scenario)


def test_reset_starts_a_new_game(base_url: str) -> None:
    async def scenario() -> None:
        player, snapshot = await paused_player(base_url)
        for _ in range(5):
            await player.step()
        frame = await player.command({"type": "reset", "seed": 7})
        assert frame["type"] == "snapshot"
        assert frame["session_id"] == snapshot["session_id"]  # a new game, the same save slot
        assert (frame["state"]["seed"], frame["state"]["tick"]) == (7, 0)
        assert frame["history"]["tick"] == [0]
        assert not frame["state"]["running"]  # the pace is the session's, kept across resets
        assert frame["config"] == snapshot["config"] and frame["models"] == snapshot["models"]
        seven = [s["engine_id"] for s in player_of(frame["state"])["slots"]]
        await player.step()
        frame = await player.command({"type": "reset"})  # same seed again: the same engines
        assert (frame["state"]["seed"], frame["state"]["tick"]) == (7, 0)
        assert [s["engine_id"] for s in player_of(frame["state"])["slots"]] == seven
        frame = await player.command({"type": "reset", "seed": 0})
        assert [s["engine_id"] for s in player_of(frame["state"])["slots"]] == [
            s["engine_id"] for s in player_of(snapshot["state"])["slots"]
        ]
        await player.close()

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
        "invalid JSON",  # NaN is not JSON
    ),
    "seed too large": (
        '{"type": "reset", "seed": 4294967296}',
        "seed must be a whole number from 0 to 4294967295 (got 4294967296)",
    ),
    "negative seed": ('{"type": "reset", "seed": -3}', "seed must be a whole number from 0"),
    "fractional seed": ('{"type": "reset", "seed": 1.5}', "seed must be a whole number from 0"),
    "seed true": (
        '{"type": "reset", "seed": true}',
        "seed must be a whole number from 0 to 4294967295 (got True)",
    ),
    "wrong value type": ('{"type": "free_play", "enabled": "sometimes"}', "enabled"),
    "oversized": (json.dumps({"type": "reset", "pad": "x" * 5000}), "message too large"),
    "binary": (b"\x00\x01", "binary messages are not accepted"),
    "locked strategy": ('{"type": "set_strategy", "strategy": "federated"}', "is locked"),
    "nested array": ("[" * 2000 + "]" * 2000, "invalid JSON: depth limit exceeded"),
    "nested in a field": (
        '{"type": "set_strategy", "strategy": ' + "[" * 1000 + "]" * 1000 + "}",
        "strategy: Input should be",
    ),
    "nested object": (
        '{"type": "reset", "seed": ' + '{"a":' * 500 + "1" + "}" * 501,
        "seed must be a whole number",
    ),
    "ack ahead": ('{"type": "ack", "seq": -1}', "seq"),
}


@pytest.mark.parametrize("name", list(BAD_MESSAGES))
def test_bad_messages_get_an_error_frame_and_the_session_goes_on(base_url: str, name: str) -> None:
    message, expected = BAD_MESSAGES[name]

    async def scenario() -> None:
        player, _ = await paused_player(base_url)
        await player.step()
        tick = player.state["tick"]
        error = await player.command(message)
        ErrorFrame.model_validate(error)
        assert error["type"] == "error"
        assert expected in error["message"]
        assert len(error["message"]) < 400
        await player.step()
        assert player.state["tick"] == tick + 1
        await player.close()

    play(scenario)


def test_a_burst_of_commands_is_rate_limited_with_one_error_a_second(base_url: str) -> None:
    async def scenario() -> None:
        player, _ = await paused_player(base_url)
        tick = player.state["tick"]
        for _ in range(2000):
            await player.send({"type": "step"})
        await player.send({"type": "ack", "seq": 10**6})  # not rate-limited
        error = await player.until(lambda f: f["type"] == "error")
        assert "too many commands" in error["message"] and "dropped" in error["message"]
        await asyncio.sleep(2.5)  # the bucket refills
        await player.step()
        # The burst played at most the bucket's size, not 2,000 ticks.
        assert tick + 2 <= player.state["tick"] <= tick + 41 + 2 * 20 + 1
        assert len(player.errors) <= 3
        await player.close()

    play(scenario)


def test_a_client_that_does_not_ack_is_sent_a_window_of_frames_then_the_latest(
    base_url: str,
) -> None:
    """A slow reader is never sent a backlog: frames stop at the window and resume at the
    latest state once it acknowledges."""

    async def scenario() -> None:
        player = await GameClient.connect(base_url, ack=False)
        snapshot = await player.recv()
        await player.send({"type": "set_speed", "ticks_per_second": 50})
        frames = [await player.recv() for _ in range(7)]  # the window: seq 1 to 8 unacked
        assert [f["seq"] for f in frames] == list(range(2, 9))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(player.recv(), 1.0)  # nothing beyond the window
        held_at = player.state["tick"]
        await asyncio.sleep(1.0)
        await player.send({"type": "ack", "seq": frames[-1]["seq"]})
        caught_up = await player.recv()
        # One delta brings the client to the game's present, skipping the states between.
        assert caught_up["tick"] >= held_at + 50
        assert caught_up["points"]["tick"][0] == held_at + 1  # the history has no hole
        assert snapshot["seq"] == 1
        await player.close()

    play(scenario)


def test_two_sessions_are_independent(base_url: str) -> None:
    async def scenario() -> None:
        alice, _ = await paused_player(base_url)
        bob, _ = await paused_player(base_url)
        assert alice.session_id != bob.session_id
        await alice.command({"type": "free_play", "enabled": True})
        await alice.command({"type": "set_strategy", "strategy": "federated"})
        base_a = (await alice.step())["tick"]
        base_b = (await bob.step())["tick"]
        for _ in range(3):
            await alice.step()
        await bob.step()
        assert alice.state["tick"] == base_a + 3
        assert bob.state["tick"] == base_b + 1
        assert player_of(alice.state)["strategy"] == "federated"
        assert player_of(bob.state)["strategy"] == "corrective"
        assert not bob.state["free_play"]
        await bob.command({"type": "reset", "seed": 9})
        await alice.step()
        assert bob.state["seed"] == 9 and alice.state["seed"] == 0
        assert alice.state["tick"] == base_a + 4
        await alice.close()
        await bob.close()

    play(scenario)


def test_endless_request_headers_are_refused_not_buffered(base_url: str) -> None:
    """Headers are bounded (uvicorn on h11, 16 KiB): a client that keeps sending one header is
    answered with an error and cut off instead of being buffered without limit."""
    import socket

    host, port = base_url.split(":")
    with socket.create_connection((host, int(port)), timeout=RECV_GUARD_S) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: ")
        sent, refused = 0, False
        try:
            while sent < 8 << 20:  # 8 MiB at most
                sock.sendall(b"a" * 65536)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            refused = True
        if not refused:
            reply = sock.recv(1024)
            refused = reply.startswith(b"HTTP/1.1 4") or reply == b""
    assert refused and sent < 8 << 20

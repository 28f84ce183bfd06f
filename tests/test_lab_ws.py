"""The lab websocket `/ws/lab` (docs/lab.md, section 4) against a real server and real training.

Runs are small FF09 federations (8 nodes): a round takes a few hundredths of a second. One
server with `max_lab_runs=1` serves the module, so the cap is the one the tests see; each test
leaves no run behind (`_idle` checks the server's own count of lab threads and slots).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from servers import play, running_server

from app.web.client import GameClient

RECORD_FIELDS = {
    "round",
    "rmse",
    "late_life_rmse",
    "participants",
    "dropped",
    "stragglers",
    "attackers",
    "rejected",
    "node_loss_before",
    "node_loss_after",
    "bytes_up",
    "bytes_down",
    "seconds",
}
SMALL = {"model": "ff09", "nodes": 8, "rounds": 3}
LONG = {"model": "ff09", "nodes": 8, "rounds": 500}  # never finishes within a test
Frame = dict[str, Any]


@pytest.fixture(scope="module")
def server(game_models: Any) -> Iterator[str]:
    with running_server(game_models, max_lab_runs=1) as base:
        yield base


def _status(base: str) -> Frame:
    with urllib.request.urlopen(f"http://{base}/api/lab", timeout=10) as response:
        status: Frame = json.loads(response.read())
        return status


async def _idle(base: str, within_s: float = 10.0) -> Frame:
    """The server's lab at rest: no thread computing, no slot held, nobody waiting."""
    give_up = time.monotonic() + within_s
    while True:
        status = await asyncio.to_thread(_status, base)
        if status["threads"] == status["training"] == status["queued"] == 0:
            return status
        assert time.monotonic() < give_up, f"the lab did not come to rest: {status}"
        await asyncio.sleep(0.05)


async def _open(base: str) -> websockets.ClientConnection:
    return await websockets.connect(f"ws://{base}/ws/lab", max_size=1 << 22)


async def _recv(ws: websockets.ClientConnection, timeout: float = 60.0) -> Frame:
    frame: Frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return frame


async def _until(ws: websockets.ClientConnection, kind: str) -> list[Frame]:
    """Frames up to and including the first of type `kind`."""
    frames = [await _recv(ws)]
    while frames[-1]["type"] != kind:
        assert frames[-1]["type"] != "error", frames[-1]
        frames.append(await _recv(ws))
    return frames


async def _silent(ws: websockets.ClientConnection, seconds: float) -> None:
    with pytest.raises(TimeoutError):
        frame = await asyncio.wait_for(ws.recv(), seconds)
        pytest.fail(f"unexpected frame: {frame}")


def test_a_small_run_streams_one_round_frame_per_round_then_finished(server: str) -> None:
    async def scenario() -> list[Frame]:
        async with await _open(server) as ws:
            await ws.send(json.dumps({"type": "start", "config": SMALL}))
            frames = await _until(ws, "finished")
        await _idle(server)
        return frames

    frames = play(scenario)
    assert [f["type"] for f in frames] == ["started", "round", "round", "round", "finished"]
    assert frames[0]["config"]["nodes"] == 8 and frames[0]["config"]["aggregation"] == "fedavg"
    records = [f["record"] for f in frames[1:4]]
    assert [r["round"] for r in records] == [1, 2, 3]
    for record in records:
        assert set(record) >= RECORD_FIELDS
        assert sorted(record["participants"]) == list(range(8))
        assert len(record["node_loss_before"]) == len(record["node_loss_after"]) == 8
        assert record["bytes_up"] > 0 and record["bytes_down"] > 0 and record["seconds"] > 0
        assert record["rmse"] > 0 and record["late_life_rmse"] > 0
    final = frames[-1]["final"]
    assert final["rmse"] > 0 and final["late_life_rmse"] > 0


@pytest.mark.parametrize(
    ("config", "field", "words"),
    [
        ({"nodes": 9000}, "nodes", "9000"),
        ({"aggregation": "trimmed_mean", "trim_fraction": 0.6}, "trim_fraction", "0.6"),
        ({"aggregation": "bogus"}, "aggregation", "bogus"),
        ({"nodez": 8}, "nodez", "unknown field"),
    ],
)
def test_a_bad_config_gets_an_error_frame_naming_the_field(
    server: str, config: Frame, field: str, words: str
) -> None:
    async def scenario() -> list[Frame]:
        async with await _open(server) as ws:
            await ws.send(json.dumps({"type": "start", "config": config}))
            refused = await _recv(ws)
            await ws.send("not json")
            garbled = await _recv(ws)
            await ws.send(json.dumps({"type": "pause"}))
            nothing = await _recv(ws)
            await _silent(ws, 0.3)  # no run was started
            return [refused, garbled, nothing]

    refused, garbled, nothing = play(scenario)
    assert refused["type"] == "error" and refused["field"] == field
    assert field in refused["message"] and words in refused["message"]
    assert garbled["type"] == "error" and "invalid JSON" in garbled["message"]
    assert nothing["type"] == "error" and "no run to pause" in nothing["message"]


def test_cancel_stops_within_one_round_and_leaves_no_thread(server: str) -> None:
    async def scenario() -> tuple[list[Frame], Frame]:
        async with await _open(server) as ws:
            await ws.send(json.dumps({"type": "start", "config": LONG}))
            await _until(ws, "round")
            await _until(ws, "round")
            await ws.send(json.dumps({"type": "cancel"}))
            after = await _until(ws, "cancelled")
            await _silent(ws, 0.5)
            status = await _idle(server, within_s=2.0)
        return after, status

    after, status = play(scenario)
    rounds_after = [f for f in after if f["type"] == "round"]
    assert len(rounds_after) <= 1  # the round under way when the cancel came, at most
    assert after[-1]["rounds_done"] < LONG["rounds"]
    assert status["threads"] == 0


def test_closing_the_socket_cancels_the_run(server: str) -> None:
    async def scenario() -> list[Frame]:
        ws = await _open(server)
        await ws.send(json.dumps({"type": "start", "config": LONG}))
        await _until(ws, "round")
        await ws.close()
        statuses = [await _idle(server)]
        for _ in range(5):  # and it stays at rest: no thread went on training
            await asyncio.sleep(0.1)
            statuses.append(await asyncio.to_thread(_status, server))
        return statuses

    for status in play(scenario):
        assert status["threads"] == status["training"] == 0


def test_pause_step_resume(server: str) -> None:
    async def scenario() -> tuple[list[Frame], list[Frame], Frame]:
        async with await _open(server) as ws:
            await ws.send(json.dumps({"type": "start", "config": LONG}))
            await _until(ws, "round")
            await ws.send(json.dumps({"type": "pause"}))
            paused = await _until(ws, "status")
            # a paused run holds no training slot once the round under way (however slow on a
            # loaded machine) has ended; its frame, if any, was sent before the slot was let go
            at_rest = await _idle(server)
            while True:
                try:
                    paused.append(json.loads(await asyncio.wait_for(ws.recv(), 0.3)))
                except TimeoutError:
                    break
            await ws.send(json.dumps({"type": "step"}))
            stepped = [await _recv(ws)]
            await _silent(ws, 0.5)
            await ws.send(json.dumps({"type": "cancel"}))
            stepped += await _until(ws, "cancelled")
        await _idle(server)
        return paused, stepped, at_rest

    paused, stepped, at_rest = play(scenario)
    assert paused[-1]["type"] in ("status", "round") and len(paused) <= 3
    assert at_rest["training"] == 0
    assert stepped[0]["type"] == "round"
    assert [f["type"] for f in stepped[1:]] == ["cancelled"]


def test_the_cap_queues_runs_in_order(server: str) -> None:
    async def scenario() -> list[list[Frame]]:
        a, b, c = await _open(server), await _open(server), await _open(server)
        try:
            await a.send(json.dumps({"type": "start", "config": LONG}))
            seen_a = await _until(a, "round")
            await b.send(json.dumps({"type": "start", "config": LONG}))
            seen_b = [await _recv(b)]
            await c.send(json.dumps({"type": "start", "config": LONG}))
            seen_c = [await _recv(c)]
            await a.send(json.dumps({"type": "cancel"}))
            seen_a += await _until(a, "cancelled")
            seen_b += await _until(b, "round")  # b trains now; c moved up
            seen_c.append(await _recv(c))
            await b.close()  # closing b frees the slot for c
            seen_c += await _until(c, "round")
            await c.send(json.dumps({"type": "cancel"}))
            seen_c += await _until(c, "cancelled")
        finally:
            for ws in (a, b, c):
                await ws.close()
        await _idle(server)
        return [seen_a, seen_b, seen_c]

    seen_a, seen_b, seen_c = play(scenario)
    assert seen_a[0]["type"] == "started"
    assert seen_b[0] == {**seen_b[0], "type": "queued", "position": 1}
    assert "position 1" in seen_b[0]["message"]
    assert seen_b[1]["type"] == "started"
    assert [(f["type"], f.get("position")) for f in seen_c[:2]] == [("queued", 2), ("queued", 1)]
    assert seen_c[2]["type"] == "started"


def _player_predictions(state: Frame, traces: dict[str, Any]) -> list[tuple[float, float]]:
    """(shown, default model's) federated RUL of every running player slot."""
    pairs = []
    for slot in state["factories"][0]["slots"]:
        if slot["cycle"] > 0 and slot["federated_rul"] is not None:
            default = round(float(traces[slot["engine_id"]].federated_rul[slot["cycle"] - 1]), 2)
            pairs.append((slot["federated_rul"], default))
    return pairs


def test_deploy_changes_the_deploying_session_only(server: str, game_models: Any) -> None:
    traces = {t.engine_id: t for t in game_models.traces}

    async def scenario() -> tuple[list[Frame], Frame, Frame, Frame]:
        mine, other = await GameClient.connect(server), await GameClient.connect(server)
        try:
            await mine.recv()
            await other.recv()
            assert mine.state is not None and other.state is not None
            assert mine.state["federated_model"] == other.state["federated_model"] == "default"
            async with await _open(server) as ws:
                await ws.send(json.dumps({"type": "deploy", "session": mine.session_id}))
                early = await _recv(ws)  # nothing trained yet
                await ws.send(json.dumps({"type": "start", "config": {**SMALL, "rounds": 2}}))
                await _until(ws, "finished")
                await ws.send(json.dumps({"type": "deploy", "session": "x" * 20}))
                gone = await _recv(ws)
                await ws.send(json.dumps({"type": "deploy", "session": mine.session_id}))
                deployed = await _recv(ws, timeout=120)
                if deployed["type"] == "confirm_deploy":  # it earns less than the default
                    assert mine.state["federated_model"] == "default"
                    confirmed = {
                        "type": "deploy",
                        "session": mine.session_id,
                        "confirm_worse": True,
                    }
                    await ws.send(json.dumps(confirmed))
                    deployed = await _recv(ws, timeout=120)
            while mine.state["federated_model"] == "default":
                await mine.recv()
            await mine.recv()
            await other.recv()
            await other.recv()
            return [early, gone], deployed, mine.state, other.state
        finally:
            await mine.close()
            await other.close()

    (early, gone), deployed, mine, other = play(scenario, guard_s=180)
    assert early["type"] == "error" and "nothing to deploy" in early["message"]
    assert gone["type"] == "error" and gone["field"] == "session"
    assert "not being played" in gone["message"]
    assert deployed["type"] == "deployed", deployed
    assert deployed["model"] == "lab model: 2 rounds, 8 nodes, fedavg"
    for key in ("percent_of_oracle", "default_percent_of_oracle", "local_percent_of_oracle"):
        assert 0 < deployed[key] <= 100
    assert mine["federated_model"] == deployed["model"]
    assert other["federated_model"] == "default"
    shown_mine = _player_predictions(mine, traces)
    shown_other = _player_predictions(other, traces)
    assert shown_mine and shown_other
    assert sum(a != b for a, b in shown_mine) >= len(shown_mine) // 2  # the lab's model now
    assert all(a == b for a, b in shown_other)  # still the default model


def test_privacy_secure_aggregation_and_compression_travel_through_the_socket(
    server: str,
) -> None:
    dp = {**SMALL, "dp_noise": 1.0, "dp_clip": 0.5, "sample_fraction": 0.5, "compression": "int4"}
    secure = {**SMALL, "secure_aggregation": True, "secagg_threshold": 0.75}

    async def scenario() -> list[list[Frame]]:
        runs = []
        for config in (dp, secure):
            async with await _open(server) as ws:
                await ws.send(json.dumps({"type": "start", "config": config}))
                runs.append(await _until(ws, "finished"))
            await _idle(server)
        return runs

    dp_frames, secure_frames = play(scenario)
    assert dp_frames[0]["config"]["compression"] == "int4"
    records = [f["record"] for f in dp_frames if f["type"] == "round"]
    eps = [r["epsilon"] for r in records]
    assert 0 < eps[0] < eps[1] < eps[2] == dp_frames[-1]["final"]["epsilon"]
    assert all(r["clip"] == 0.5 for r in records)
    assert dp_frames[-1]["final"]["delta"] > 0
    n_params = 865  # FF09
    for r in records:
        assert r["bytes_up"] == len(r["participants"]) * (8 + (n_params + 1) // 2)
    assert secure_frames[0]["config"]["secure_aggregation"] is True
    for f in secure_frames:
        if f["type"] == "round":
            assert f["record"]["failure"] is None and f["record"]["epsilon"] is None


def test_a_privacy_setting_that_does_not_compose_is_refused_naming_it(server: str) -> None:
    async def scenario() -> Frame:
        async with await _open(server) as ws:
            config = {**SMALL, "aggregation": "median", "secure_aggregation": True}
            await ws.send(json.dumps({"type": "start", "config": config}))
            return await _recv(ws)

    frame = play(scenario)
    assert frame["type"] == "error" and "secure aggregation" in frame["message"]

"""A lab model's deployment into a game (docs/lab.md, section 4), against a real server, real
websockets and real (tiny) training: its label names the run's settings, a model that earns less
than the default asks first, the Models data names the model that decides, and the deployment
lives exactly as `KEPT` says: kept across reloads while the server runs, dropped by New game, by
`use_default_model` and by a server restart (which the resumed game is told).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from servers import play, running_server

from app.web.client import GameClient
from app.web.deployments import KEPT
from app.web.lab_deploy import model_label
from fl_engine.lab.config import LabConfig

Frame = dict[str, Any]
# One round at a tiny learning rate: a model that surely earns less than the default one.
WORSE = {"model": "ff09", "nodes": 8, "rounds": 1, "lr": 1e-6}


@pytest.fixture(scope="module")
def server(game_models: Any) -> Iterator[str]:
    with running_server(game_models, max_lab_runs=1) as base:
        yield base


def _get(base: str, path: str) -> Frame:
    with urllib.request.urlopen(f"http://{base}{path}", timeout=10) as response:
        answer: Frame = json.loads(response.read())
        return answer


async def _recv(ws: websockets.ClientConnection, timeout: float = 120.0) -> Frame:
    frame: Frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return frame


async def _train(base: str, config: Frame) -> websockets.ClientConnection:
    """A lab socket whose run has finished."""
    ws = await websockets.connect(f"ws://{base}/ws/lab", max_size=1 << 22)
    await ws.send(json.dumps({"type": "start", "config": config}))
    while (frame := await _recv(ws))["type"] != "finished":
        assert frame["type"] != "error", frame
    return ws


async def _deploy(ws: websockets.ClientConnection, session: str, confirm: bool = False) -> Frame:
    message: Frame = {"type": "deploy", "session": session}
    if confirm:
        message["confirm_worse"] = True
    await ws.send(json.dumps(message))
    return await _recv(ws)


async def _lab_model(client: GameClient, present: bool) -> Frame:
    """The game's state once its `lab_model` is there (or gone)."""
    assert client.state is not None
    while (client.state.get("lab_model") is not None) != present:
        await client.recv()
    return client.state


async def _out_of_memory(base: str) -> None:
    """Every game of the server left its memory (their tabs closed, saved)."""
    give_up = time.monotonic() + 20
    while (await asyncio.to_thread(_get, base, "/api/health"))["games"]:
        assert time.monotonic() < give_up, "the games stayed in memory"
        await asyncio.sleep(0.05)


def test_the_label_names_every_setting_that_changes_the_model() -> None:
    attacked = LabConfig(
        nodes=80, aggregation="median", attack="sign_flip", attackers=0.2, compression="int8"
    )
    assert model_label(attacked, 20) == (
        "lab model: 20 rounds, 80 nodes, median vs 20% sign_flip, int8"
    )
    private = LabConfig(
        nodes=8, dp_noise=1.0, dp_clip=0.5, secure_aggregation=True, attack="scale",
        attacker_nodes=[1],
    )  # fmt: skip
    assert model_label(private, 1, 4.31) == (
        "lab model: 1 round, 8 nodes, fedavg vs 1 attacker scale, DP eps 4.3, secure aggregation"
    )
    plain = LabConfig(nodes=12, partition="fault_mode", dp_clip=0.5)
    assert model_label(plain, 3) == (
        "lab model: 3 rounds, 12 nodes, fedavg, clipped updates (C 0.5, no noise), "
        "fault_mode partition"
    )


def test_a_worse_model_asks_first_and_then_decides_named_as_such(server: str) -> None:
    private = {**WORSE, "dp_noise": 1.0, "dp_clip": 0.5, "secure_aggregation": True}

    async def scenario() -> tuple[Frame, Frame, Frame, Frame, Frame]:
        game = await GameClient.connect(server)
        try:
            await game.recv()
            assert game.session_id is not None and game.state is not None
            async with await _train(server, private) as ws:
                check = await _deploy(ws, game.session_id)
                before = dict(game.state)
                deployed = await _deploy(ws, game.session_id, confirm=True)
            state = await _lab_model(game, True)
            models = await asyncio.to_thread(_get, server, f"/api/models?session={game.session_id}")
            return check, before, deployed, state, models
        finally:
            await game.close()

    check, before, deployed, state, models = play(scenario, guard_s=240)
    assert check["type"] == "confirm_deploy", check
    assert check["percent_of_oracle"] < check["default_percent_of_oracle"]
    assert "less than the default federated model's" in check["message"]
    assert before["federated_model"] == "default" and before.get("lab_model") is None
    assert deployed["type"] == "deployed" and deployed["worse_than_default"] is True
    assert deployed["warning"] and deployed["kept"] == KEPT
    label = deployed["model"]
    assert label.startswith("lab model: 1 round, 8 nodes, fedavg, DP eps ")
    assert label.endswith(", secure aggregation")
    assert state["federated_model"] == label
    lab = state["lab_model"]
    assert lab["label"] == label and lab["worse_than_default"] is True and lab["kept"] == KEPT
    assert lab["percent_of_oracle"] == pytest.approx(deployed["percent_of_oracle"])
    assert lab["margin"] == pytest.approx(state["margins"]["federated"])
    assert lab["rmse"] is not None and lab["late_life_rmse"] is not None
    assert models["lab_model"] == lab  # the model that decides, at /api/models too
    assert _get(server, "/api/models")["lab_model"] is None


def test_a_deployment_is_kept_across_reloads_and_dropped_by_new_game_or_going_back(
    server: str,
) -> None:
    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        game = await GameClient.connect(server)
        await game.recv()
        session = game.session_id
        assert session is not None
        async with await _train(server, WORSE) as ws:
            deployed = await _deploy(ws, session, confirm=True)
            label = deployed["model"]
            await _lab_model(game, True)
            await game.close()  # a reload: the tab goes, the game leaves memory ...
            await _out_of_memory(server)
            game = await GameClient.connect(server, session=session)
            seen["reloaded"] = await game.recv()  # ... and comes back with its lab model
            await game.command({"type": "reset"})  # New game
            seen["new_game"] = dict(await _lab_model(game, False))
            await game.close()
            await _out_of_memory(server)
            game = await GameClient.connect(server, session=session)
            seen["after_new_game"] = await game.recv()
            assert (await _deploy(ws, session, confirm=True))["type"] == "deployed"
            await _lab_model(game, True)
            await game.send({"type": "use_default_model"})
            seen["back"] = dict(await _lab_model(game, False))
            seen["again"] = await game.command({"type": "use_default_model"})
            await game.close()
        seen["label"] = label
        return seen

    seen = play(scenario, guard_s=240)
    reloaded = seen["reloaded"]
    assert reloaded["resumed"] is True and reloaded["notice"] is None
    assert reloaded["state"]["federated_model"] == seen["label"]
    assert reloaded["state"]["lab_model"]["label"] == seen["label"]
    assert seen["new_game"]["federated_model"] == "default"
    after = seen["after_new_game"]
    assert after["state"]["federated_model"] == "default" and after["state"]["lab_model"] is None
    assert seen["back"]["federated_model"] == "default"
    assert seen["again"]["type"] == "error"
    assert "default federated model already decides" in seen["again"]["message"]


def test_a_server_restart_drops_the_model_and_the_resumed_game_says_so(
    game_models: Any, tmp_path: Path
) -> None:
    database = tmp_path / "games.sqlite3"

    async def deploy_and_leave(base: str) -> tuple[str, str]:
        game = await GameClient.connect(base)
        await game.recv()
        assert game.session_id is not None
        async with await _train(base, WORSE) as ws:
            deployed = await _deploy(ws, game.session_id, confirm=True)
        await _lab_model(game, True)
        await game.close()
        await _out_of_memory(base)
        return game.session_id, deployed["model"]

    async def resume(base: str, session: str) -> Frame:
        game = await GameClient.connect(base, session=session)
        try:
            return await game.recv()
        finally:
            await game.close()

    with running_server(game_models, database=database) as base:
        session, label = play(lambda: deploy_and_leave(base), guard_s=240)
    with running_server(game_models, database=database) as base:
        snapshot = play(lambda: resume(base, session))
    assert snapshot["resumed"] is True
    assert snapshot["state"]["federated_model"] == "default"
    assert snapshot["state"]["lab_model"] is None
    assert f'This game ran the lab model "{label}"' in snapshot["notice"]
    assert "the default federated model decides again" in snapshot["notice"]


def test_expected_refusals_log_one_line_and_no_traceback(
    server: str, caplog: pytest.LogCaptureFixture
) -> None:
    gone = "x" * 20

    async def scenario() -> list[Frame]:
        async with await websockets.connect(f"ws://{server}/ws/lab") as ws:
            early = await _deploy(ws, gone)  # nothing trained yet
        async with await _train(server, WORSE) as ws:
            missing = await _deploy(ws, gone)  # no such game
        return [early, missing]

    with caplog.at_level(logging.INFO, logger="tycoon.lab"):
        early, missing = play(scenario, guard_s=120)
    assert early["type"] == missing["type"] == "error"
    assert "nothing to deploy" in early["message"] and missing["field"] == "session"
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert [r.getMessage() for r in refusals] == [
        "lab deployment refused: nothing to deploy yet: start a run and let it play a round",
        "lab deployment refused: the game is not being played on this server right now",
    ]
    assert all(r.exc_info is None for r in caplog.records)
    assert all(gone not in r.getMessage() for r in caplog.records)  # a session id is secret


def test_the_docs_say_the_lifecycle_the_game_says() -> None:
    docs = (Path(__file__).resolve().parent.parent / "docs" / "lab.md").read_text()
    assert KEPT in " ".join(docs.replace("**", "").split())

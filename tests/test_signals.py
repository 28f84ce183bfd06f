"""Signals (issue 20): a server stops quickly with a lab round under way and saves its games, and no
Flower process outlives the server or `tycoon train`, however they end.

Real `tycoon serve` and `tycoon train` subprocesses, real websockets, real Flower deployments of 2
nodes (the slow part: ~40-60 s until the first round on 2 busy cores). Each subprocess runs with an
environment variable unique to the test, which every process it starts inherits (Flower's
detached SuperExec and ServerApp included), so what is left behind is found by that mark.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
import pytest
import websockets
from servers import play, running_server
from test_lifecycle import MAX_SPEED, read_until_closed
from test_persistence import open_game, tycoon_serve, visit

Frame = dict[str, Any]
MARK = "TYCOON_SIGNALS_TEST"
# A lab round of ~15 million node-row-epochs (~150 s here): under way when the signal comes.
HEAVY = {"model": "window", "nodes": 2000, "local_epochs": 10, "rounds": 2}
FLOWER = {"runtime": "flower-deployment", "model": "ff09", "nodes": 2, "rounds": 100}
STOPPED_S = 20.0  # the issue asks for 5 s; generous on a loaded 2-core machine
GONE_S = 30.0  # every marked process gone after its parent died


def _marked(mark: str) -> list[str]:
    """Live processes (not zombies) carrying `MARK=mark`: "pid command" each."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if proc.environ().get(MARK) == mark and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(f"{proc.pid} {' '.join(proc.info['cmdline'] or [])[:120]}")
        except psutil.Error:
            continue
    return found


def _gone(mark: str, within_s: float = GONE_S) -> float:
    """Seconds until no process carries `mark`; fails naming them after `within_s`."""
    start = time.monotonic()
    while left := _marked(mark):
        assert time.monotonic() - start < within_s, f"left behind: {left}"
        time.sleep(0.2)
    return time.monotonic() - start


def _status(base: str) -> Frame:
    with urllib.request.urlopen(f"http://{base}/api/lab", timeout=10) as response:
        status: Frame = json.loads(response.read())
        return status


async def _until(ws: websockets.ClientConnection, kind: str, timeout: float = 60.0) -> list[Frame]:
    frames: list[Frame] = []
    while not frames or frames[-1]["type"] != kind:
        frames.append(json.loads(await asyncio.wait_for(ws.recv(), timeout)))
        assert frames[-1]["type"] != "error", frames[-1]
    return frames


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_a_server_mid_round_quickly_and_saves_its_games(
    sig: signal.Signals, game_models: Any, game_artifacts_dir: Path, tmp_path: Path
) -> None:
    database = tmp_path / "games.sqlite3"
    seen: dict[str, int] = {}

    async def play_train_then_signal(server: Any) -> float:
        clients = [(await open_game(server.base))[0] for _ in range(3)]
        for client in clients:
            await client.send(MAX_SPEED)
        readers = [asyncio.create_task(read_until_closed(c)) for c in clients]
        lab = await websockets.connect(f"ws://{server.base}/ws/lab")
        await lab.send(json.dumps({"type": "start", "config": HEAVY}))
        await _until(lab, "started")
        give_up = time.monotonic() + 60.0
        while (await asyncio.to_thread(_status, server.base))["threads"] == 0:
            assert time.monotonic() < give_up, "the lab round never started"
            await asyncio.sleep(0.1)
        await asyncio.sleep(2.0)  # well into the round
        start = time.monotonic()
        server.proc.send_signal(sig)
        await asyncio.to_thread(server.proc.wait, 60.0)
        took = time.monotonic() - start
        await asyncio.wait_for(asyncio.gather(*readers), 20.0)
        await lab.close()
        for client in clients:
            assert client.session_id is not None and client.state is not None
            seen[client.session_id] = client.state["tick"]
        return took

    with tycoon_serve(game_artifacts_dir, database) as server:
        took = play(lambda: play_train_then_signal(server), guard_s=180.0)
        code, log = server.proc.returncode, server.output()
    print(f"{sig.name} stopped the server in {took:.1f} s with a lab round under way")
    assert took < STOPPED_S, f"{sig.name} took {took:.1f} s:\n{log[-3000:]}"
    assert code in (0, 1, 128 + sig, -sig), log[-3000:]
    assert "Traceback" not in log, log[log.index("Traceback") - 300 :][:4000]
    assert len(seen) == 3 and min(seen.values()) > 0

    async def come_back(base: str) -> dict[str, int]:
        return {sid: (await visit(base, sid))["state"]["tick"] for sid in seen}

    with running_server(game_models, database=database) as base:
        resumed = play(lambda: come_back(base))
    assert all(resumed[sid] >= tick for sid, tick in seen.items()), (seen, resumed)


def test_a_paused_flower_run_keeps_its_slot_and_dies_with_a_killed_server(
    game_models: Any, game_artifacts_dir: Path, tmp_path: Path
) -> None:
    pytest.importorskip("flwr")
    mark = uuid.uuid4().hex

    async def pause_then_kill(server: Any) -> tuple[Frame, list[str]]:
        async with websockets.connect(f"ws://{server.base}/ws/lab") as ws:
            await ws.send(json.dumps({"type": "start", "config": FLOWER}))
            await _until(ws, "round", timeout=300.0)
            await ws.send(json.dumps({"type": "pause"}))
            await _until(ws, "status")
            await asyncio.sleep(1.0)
            paused = await asyncio.to_thread(_status, server.base)
            running = _marked(mark)
            server.proc.kill()  # SIGKILL: no handler, no clean-up code of ours runs
            await asyncio.to_thread(server.proc.wait, 30.0)
        return paused, running

    with tycoon_serve(game_artifacts_dir, tmp_path / "games.sqlite3", **{MARK: mark}) as server:
        paused, running = play(lambda: pause_then_kill(server), guard_s=400.0)
    took = _gone(mark)
    print(f"{len(running)} marked processes; all gone {took:.1f} s after the SIGKILL")
    assert paused["training"] == 1, paused  # paused, its deployment running: the slot is held
    # the server, a SuperLink, its SuperExec and ServerApp, 2 SuperNodes and their executors
    flower = [p for p in running if "flower" in p or "flwr" in p]
    assert len(flower) >= 5, running


def _train_on_flower(tmp_path: Path, mark: str) -> tuple[subprocess.Popen[bytes], Path, Path]:
    """`tycoon train --runtime flower-deployment` (2 nodes, 1 round) marked with `mark`, once
    its ServerApp is up (mid-run); the process and the files of its stdout and stderr."""
    pytest.importorskip("flwr")
    exe = shutil.which("tycoon", path=os.path.dirname(sys.executable))
    assert exe is not None, "the tycoon script is not installed next to this Python"
    # 1 round: the in-process models trained first (centralized: an epoch a round) stay short;
    # the ServerApp's start-up alone takes seconds, so the run is still under way when it is up
    command = [exe, "train", "--runtime", "flower-deployment", "--nodes", "2", "--rounds", "1"]
    stdout, stderr = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with stdout.open("wb") as o, stderr.open("wb") as e:
        proc = subprocess.Popen(
            [*command, "--out", str(tmp_path / "out")],
            env={**os.environ, MARK: mark},
            stdout=o,
            stderr=e,
        )
    try:
        give_up = time.monotonic() + 300.0
        while not any("flwr-serverapp" in p for p in _marked(mark)):  # mid-run: the app is up
            assert proc.poll() is None, stderr.read_text()
            assert time.monotonic() < give_up, "no Flower run in 300 s"
            time.sleep(0.2)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc, stdout, stderr


def test_a_dead_superlink_is_one_line_from_tycoon_train(tmp_path: Path) -> None:
    mark = uuid.uuid4().hex
    proc, stdout, stderr = _train_on_flower(tmp_path, mark)
    try:
        (link,) = [p for p in _marked(mark) if "flower-superlink" in p]
        os.kill(int(link.split()[0]), signal.SIGKILL)
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    took = _gone(mark)
    err = stderr.read_text()
    print(f"tycoon train said: {err.strip()!r}; its processes gone {took:.1f} s after")
    assert code == 2, err
    assert "Traceback" not in err and "Traceback" not in stdout.read_text()
    (line,) = err.strip().splitlines()
    assert line.startswith("error: the Flower SuperLink died (killed by SIGKILL); its log: "), line


@pytest.mark.flower_slow  # the Flower stage of `make test`, as the other Flower runs
def test_ctrl_c_to_tycoon_train_on_flower_stops_it_and_every_flower_process(
    tmp_path: Path,
) -> None:
    """A real SIGINT (Ctrl-C) to `tycoon train` mid-run: it ends without a traceback, and its
    SuperLink, SuperNodes, executors and the detached ServerApp are all gone."""
    mark = uuid.uuid4().hex
    proc, stdout, stderr = _train_on_flower(tmp_path, mark)
    try:
        assert len(_marked(mark)) >= 5  # SuperLink, 2 SuperNodes with executors, the ServerApp
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=STOPPED_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    took = _gone(mark)
    err = stderr.read_text()
    print(
        f"tycoon train said: {err.strip()!r} (exit {code}); its processes gone {took:.1f} s after"
    )
    assert code == 130, "an interrupted run exits as Ctrl-C does (128 + SIGINT)"
    assert "Traceback" not in err and "Traceback" not in stdout.read_text()
    assert not (tmp_path / "out" / "metrics.json").exists()  # nothing half-written as a result

"""Saved games for real: reloads, shared tabs, New game, kill -9, expiry and refused save files.

Real servers (uvicorn in a thread from tests/servers.py, or `tycoon serve` as a subprocess),
real websockets through `GameClient`, real SQLite files in tmp_path. Every wait is bounded.
The subprocess helpers here are shared with tests/test_lifecycle.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from servers import play, running_server
from websockets.exceptions import ConnectionClosed

from app.web.client import GameClient

T = TypeVar("T")
Frame = dict[str, Any]
GUARD_S = 20.0  # hang guard of one network wait, never a measure of speed
START_S = 60.0  # a `tycoon serve` subprocess loads the models before it answers


async def within(awaitable: Awaitable[T], seconds: float = GUARD_S) -> T:
    return await asyncio.wait_for(awaitable, seconds)


async def open_game(base: str, session: str | None = None) -> tuple[GameClient, Frame]:
    """A connected client and its first frame (the snapshot)."""
    client = await within(GameClient.connect(base, session))
    frame = await within(client.recv())
    assert frame["type"] == "snapshot", frame
    return client, frame


async def visit(base: str, session: str | None) -> Frame:
    """The snapshot a visit to `session` gets (the connection is closed again)."""
    client, snapshot = await open_game(base, session)
    await client.close()
    return snapshot


async def wait_health(base: str, accept: Callable[[dict[str, Any]], bool], limit_s: float) -> None:
    """Poll /api/health until `accept` holds; fail with the last answer after `limit_s`."""
    give_up = time.monotonic() + limit_s
    async with httpx.AsyncClient(timeout=5.0) as http:
        while not accept(last := (await http.get(f"http://{base}/api/health")).json()):
            assert time.monotonic() < give_up, f"health after {limit_s:g} s: {last}"
            await asyncio.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tycoon_command(artifacts: Path, port: int) -> list[str]:
    exe = shutil.which("tycoon", path=os.path.dirname(sys.executable))
    assert exe is not None, "the tycoon script is not installed next to this Python"
    return [exe, "serve", "--port", str(port), "--artifacts", str(artifacts)]


@dataclass
class Tycoon:
    """A `tycoon serve` subprocess and where it listens."""

    proc: subprocess.Popen[bytes]
    base: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def tycoon_serve(artifacts: Path, database: Path, **env: str) -> Iterator[Tycoon]:
    """`tycoon serve` on a free port with its games in `database`, up (healthy) or failed;
    killed on the way out whatever happened. Tests request the `game_models` fixture first: it
    puts the models in `game_artifacts_dir`, so the server loads them and never trains."""
    port = free_port()
    command, log = tycoon_command(artifacts, port), database.parent / f"serve-{port}.log"
    environment = {**os.environ, "TYCOON_DATABASE": str(database), **env}
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=environment, stdout=out, stderr=subprocess.STDOUT)
    server = Tycoon(proc, f"127.0.0.1:{port}", log)
    try:
        give_up = time.monotonic() + START_S
        while True:
            assert proc.poll() is None, f"tycoon serve exited:\n{server.output()}"
            assert time.monotonic() < give_up, f"tycoon serve not up:\n{server.output()}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://{server.base}/api/health", timeout=1.0).status_code == 200:
                    break
            time.sleep(0.2)
        yield server
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server(game_models: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = tmp_path_factory.mktemp("saved-games") / "games.sqlite3"
    with running_server(game_models, database=database) as base:
        yield base


def upto(history: dict[str, Any], tick: int) -> dict[str, Any]:
    """The history's points up to `tick`."""
    n = sum(t <= tick for t in history["tick"])
    profit = {name: values[:n] for name, values in history["profit"].items()}
    return {"tick": history["tick"][:n], "profit": profit, "ghost": history["ghost"][:n]}


def test_a_reload_resumes_the_saved_game(server: str) -> None:
    async def scenario() -> None:
        first, _ = await open_game(server)
        await within(first.command({"type": "pause"}))
        for _ in range(5):
            await within(first.step())
        assert first.state is not None and first.state["running"] is False
        session_id, state, history = first.session_id, first.state, first.history
        await first.close()
        # The last tab left: the game is saved and dropped, so the reload reads the file.
        await wait_health(server, lambda h: h["games"] == 0, 10.0)

        snapshot = await visit(server, session_id)
        assert snapshot["resumed"] is True and snapshot["notice"] is None
        assert snapshot["session_id"] == session_id
        assert snapshot["state"]["tick"] == state["tick"] >= 5
        assert snapshot["state"] == state
        assert snapshot["history"] == history

    play(scenario)


def test_two_tabs_on_one_id_play_the_same_game(server: str) -> None:
    async def scenario() -> None:
        one, _ = await open_game(server)
        await within(one.command({"type": "pause"}))
        two, snapshot = await open_game(server, one.session_id)
        assert snapshot["resumed"] is True and snapshot["session_id"] == one.session_id
        assert snapshot["state"] == one.state
        for actor, watcher in ((two, one), (one, two), (two, one)):
            assert actor.state is not None and watcher.state is not None
            tick = watcher.state["tick"]
            await within(actor.step())
            shown = await within(watcher.until(lambda f: f["type"] == "delta"))
            assert shown["tick"] == tick + 1 and watcher.state == actor.state
        assert one.history == two.history
        await one.close()
        await two.close()

    play(scenario)


@pytest.mark.parametrize(
    ("requested", "words"),
    [
        ("Unknown_game_id-0123456789", "not found"),
        ("not a valid id!", "not valid"),
        ("short", "not valid"),
    ],
)
def test_an_unknown_or_malformed_id_starts_a_new_game_and_says_why(
    server: str, requested: str, words: str
) -> None:
    async def scenario() -> None:
        snapshot = await visit(server, requested.replace(" ", "%20"))
        assert snapshot["resumed"] is False
        assert snapshot["session_id"] != requested and len(snapshot["session_id"]) >= 16
        assert snapshot["state"]["tick"] == 0
        assert words in snapshot["notice"] and "new game" in snapshot["notice"]

    play(scenario)


async def play_to(client: GameClient, tick: int) -> None:
    """Play at full speed to `tick` or beyond, then pause (the client has the final state)."""
    await client.send({"type": "set_speed", "ticks_per_second": 50.0})
    await within(client.until(lambda f: client.state is not None and client.state["tick"] >= tick))
    await client.send({"type": "pause"})
    await within(client.until(lambda f: client.state is not None and not client.state["running"]))


def test_new_game_starts_over_under_the_same_id_and_saves_only_the_new_game(server: str) -> None:
    async def scenario() -> None:
        client, _ = await open_game(server)
        await play_to(client, 40)
        await asyncio.sleep(1.5)  # the periodic save keeps the game and its history so far
        await client.send({"type": "reset", "seed": 2})  # its profits differ from seed 0's
        snapshot = await within(client.until(lambda f: f["type"] == "snapshot"))
        assert snapshot["session_id"] == client.session_id and snapshot["state"]["tick"] == 0
        assert snapshot["history"]["tick"] == [0]
        await play_to(client, 20)
        await client.close()
        await wait_health(server, lambda h: h["games"] == 0, 10.0)
        resumed = await visit(server, client.session_id)
        assert resumed["resumed"] is True and resumed["state"] == client.state
        assert resumed["history"] == client.history  # the new game's profits, not the old one's

    play(scenario)


def test_a_killed_server_resumes_with_at_most_a_second_lost(
    game_models: Any, game_artifacts_dir: Path, tmp_path: Path
) -> None:
    database = tmp_path / "games.sqlite3"
    states: dict[int, dict[str, Any]] = {}

    async def play_then_kill(server: Tycoon) -> GameClient:
        client, _ = await open_game(server.base)
        await within(client.command({"type": "set_speed", "ticks_per_second": 20.0}))
        end = time.monotonic() + 3.0
        with contextlib.suppress(ConnectionClosed):  # then the frames it sent before dying
            while True:
                await within(client.recv())
                assert client.state is not None
                states[client.state["tick"]] = copy.deepcopy(client.state)
                if time.monotonic() > end and server.proc.poll() is None:
                    os.kill(server.proc.pid, signal.SIGKILL)
        return client

    with tycoon_serve(game_artifacts_dir, database) as server:
        client = play(lambda: play_then_kill(server))
        assert server.proc.wait(timeout=10) == -signal.SIGKILL
    assert client.state is not None and client.history is not None
    seen = client.state["tick"]
    assert seen >= 40, f"only {seen} ticks in 3 s at 20 ticks/s"

    with running_server(game_models, database=database) as base:
        snapshot = play(lambda: visit(base, client.session_id))
    assert snapshot["resumed"] is True and snapshot["session_id"] == client.session_id
    resumed = snapshot["state"]["tick"]
    assert seen - 25 <= resumed <= seen, (seen, resumed)
    # A state the game really had: the profits up to it are the ones played, and so is the state
    # when the client saw that tick (frames may batch two ticks).
    assert snapshot["history"] == upto(client.history, resumed)
    assert snapshot["history"]["tick"][-1] == resumed
    if resumed in states:
        assert snapshot["state"] == states[resumed]
    assert snapshot["state"]["running"] is True and snapshot["state"]["ticks_per_second"] == 20


def test_an_expired_game_is_gone_after_a_restart(game_models: Any, tmp_path: Path) -> None:
    database = tmp_path / "games.sqlite3"

    async def save_one(base: str) -> str:
        client, _ = await open_game(base)
        await within(client.command({"type": "pause"}))
        await within(client.step())
        await client.close()
        await wait_health(base, lambda h: h["games"] == 0, 10.0)
        assert client.session_id is not None
        return client.session_id

    with running_server(game_models, database=database) as base:
        session_id = play(lambda: save_one(base))
    eight_days_ago = time.time() - 8 * 86400  # the default expiry is 7 days
    with contextlib.closing(sqlite3.connect(database)) as conn:
        assert conn.execute("UPDATE games SET updated_at = ?", (eight_days_ago,)).rowcount == 1
        conn.commit()

    with running_server(game_models, database=database) as base:
        snapshot = play(lambda: visit(base, session_id))
    # Expired on start (the file is read once the server let it go: a server holds it alone).
    with contextlib.closing(sqlite3.connect(database)) as conn:
        gone = "SELECT count(*) FROM {} WHERE session_id = ?"
        assert conn.execute(gone.format("games"), (session_id,)).fetchone() == (0,)
        assert conn.execute(gone.format("history"), (session_id,)).fetchone() == (0,)
    assert snapshot["resumed"] is False and snapshot["session_id"] != session_id
    assert snapshot["state"]["tick"] == 0
    assert "not found" in snapshot["notice"] and "expire" in snapshot["notice"]


@pytest.mark.parametrize("kind", ["random-bytes", "newer-schema"])
def test_a_bad_save_file_stops_the_server_with_one_line_and_is_kept(
    game_models: Any, game_artifacts_dir: Path, tmp_path: Path, kind: str
) -> None:
    folder = tmp_path / "saves"
    folder.mkdir()
    database = folder / "games.sqlite3"
    if kind == "random-bytes":
        database.write_bytes(os.urandom(8192))
        expected = "is not a save file or it is damaged"
    else:
        with contextlib.closing(sqlite3.connect(database)) as conn:
            conn.execute("CREATE TABLE games (session_id TEXT PRIMARY KEY)")
            conn.execute("PRAGMA user_version = 99")
            conn.commit()
        expected = "was written by a newer Turbofan Tycoon (schema 99"
    before = database.read_bytes()
    env = {**os.environ, "TYCOON_DATABASE": str(database), "COLUMNS": "1000"}
    command = tycoon_command(game_artifacts_dir, free_port())
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=START_S)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ") and str(database) in lines[0]
    assert expected in lines[0]
    assert database.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["games.sqlite3"]  # no -wal, no -journal

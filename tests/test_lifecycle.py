"""A server's life for real: closed tabs stop their games, Ctrl-C is quick and saves, limits, Origin.

`tycoon serve` subprocesses where the process itself is measured (CPU, exit), uvicorn in a thread
(tests/servers.py) elsewhere; real websockets, real SQLite files. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
import pytest
import websockets
from servers import play, running_server
from test_persistence import GUARD_S, open_game, tycoon_serve, visit, wait_health, within
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.web.client import GameClient

MAX_SPEED = {"type": "set_speed", "ticks_per_second": 50.0}


async def read_until_closed(client: GameClient) -> None:
    """Play along (reading and acknowledging frames) until the server closes the connection."""
    with contextlib.suppress(ConnectionClosed):
        while True:
            await within(client.recv())


def test_closed_tabs_stop_their_games_and_leave_the_server_idle(
    game_models: Any, game_artifacts_dir: Path, tmp_path: Path
) -> None:
    async def open_play_close(base: str) -> None:
        clients = [(await open_game(base))[0] for _ in range(100)]
        for client in clients:
            await client.send(MAX_SPEED)
        for client in clients:  # a couple of frames each, at full speed
            await within(
                client.until(lambda f: f["type"] == "delta" and len(f["points"]["tick"]) > 0)
            )
            await within(client.recv())
        for k, client in enumerate(clients):  # the issue found these two kinds leaking too
            if k % 3 == 1:
                await within(client.send({"type": "pause"}))
            elif k % 3 == 2:
                await client.send({"type": "reset"})
                await within(client.until(lambda f: f["type"] == "snapshot"))
        busy = await within(asyncio.to_thread(httpx.get, f"http://{base}/api/health"))
        assert busy.json()["games"] == 100
        for client in clients[3::4]:  # a browser killed: no closing handshake at all
            client.ws.transport.abort()
        await within(asyncio.gather(*(c.close() for k, c in enumerate(clients) if k % 4 != 3)))
        await wait_health(base, lambda h: h["games"] == 0 and h["ticking"] == 0, 10.0)

    env = {"TYCOON_MAX_CONNECTIONS_PER_CLIENT": "200"}
    with tycoon_serve(game_artifacts_dir, tmp_path / "games.sqlite3", **env) as server:
        play(lambda: open_play_close(server.base), guard_s=120.0)
        process = psutil.Process(server.proc.pid)
        process.cpu_percent(None)
        time.sleep(2.0)
        idle = process.cpu_percent(None)
        assert idle < 10.0, f"an idle server used {idle:.1f}% CPU after its tabs closed"
        out = server.output()
        assert "Traceback" not in out, out[out.index("Traceback") - 300 :][:4000]


def test_ctrl_c_stops_a_busy_server_quickly_and_saves_every_game(
    game_models: Any, game_artifacts_dir: Path, tmp_path: Path
) -> None:
    database = tmp_path / "games.sqlite3"
    seen: dict[str, int] = {}

    async def play_then_interrupt(proc: Any, base: str) -> float:
        clients = [(await open_game(base))[0] for _ in range(20)]
        for client in clients:
            await client.send(MAX_SPEED)
        readers = [asyncio.create_task(read_until_closed(c)) for c in clients]
        await asyncio.sleep(1.0)
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        await within(asyncio.to_thread(proc.wait, 10.0), 12.0)
        took = time.monotonic() - start
        await within(asyncio.gather(*readers))
        for client in clients:
            assert client.session_id is not None and client.state is not None
            seen[client.session_id] = client.state["tick"]
        return took

    with tycoon_serve(game_artifacts_dir, database) as server:
        took = play(lambda: play_then_interrupt(server.proc, server.base))
        code = server.proc.returncode
        log = server.output()
    assert took < 3.0, f"Ctrl-C took {took:.1f} s with 20 games at speed 50"
    assert code in (0, 1, 130, -signal.SIGINT), log  # uvicorn re-raises the SIGINT it caught
    assert "Traceback" not in log, log
    assert len(seen) == 20 and min(seen.values()) > 0

    async def come_back(base: str) -> dict[str, int]:
        ticks = {}
        for session_id in seen:
            snapshot = await visit(base, session_id)
            assert snapshot["resumed"] is True and snapshot["session_id"] == session_id
            ticks[session_id] = snapshot["state"]["tick"]
        return ticks

    with running_server(game_models, database=database) as base:
        resumed = play(lambda: come_back(base))
    # Saved on the way down: at least as far as each tab had seen.
    assert all(resumed[sid] >= tick for sid, tick in seen.items()), (seen, resumed)


@pytest.mark.parametrize(
    ("limit", "words"),
    [
        ({"max_games": 2}, "the server is full"),
        ({"max_connections_per_client": 3}, "too many connections"),
    ],
    ids=["games", "connections"],
)
def test_a_full_server_refuses_with_an_error_frame_and_try_again_later(
    game_models: Any, tmp_path: Path, limit: dict[str, int], words: str
) -> None:
    room = next(iter(limit.values()))

    async def scenario(base: str) -> None:
        clients = [(await open_game(base))[0] for _ in range(room)]
        refused = await within(GameClient.connect(base))
        frame = await within(refused.recv())
        assert frame["type"] == "error" and words in frame["message"], frame
        with pytest.raises(ConnectionClosed):
            await within(refused.recv())
        assert refused.ws.close_code == 1013
        # The games already there play on.
        await within(clients[0].command({"type": "pause"}))
        await within(clients[0].step())
        for client in clients:
            await client.close()

    with running_server(game_models, database=tmp_path / "games.sqlite3", **limit) as base:
        play(lambda: scenario(base))


def test_foreign_origins_and_hosts_are_refused_with_403(game_models: Any, tmp_path: Path) -> None:
    allowed = "https://tycoon.example"

    async def refusal(url: str, **options: Any) -> tuple[int, str]:
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(url, open_timeout=GUARD_S, **options):
                pass
        return refused.value.response.status_code, refused.value.response.body.decode()

    async def accepted(url: str, origin: str) -> None:
        headers = {"Origin": origin}
        async with websockets.connect(url, additional_headers=headers, open_timeout=GUARD_S) as ws:
            assert '"type":"snapshot"' in str(await within(ws.recv()))

    async def scenario(base: str) -> None:
        port = int(base.rsplit(":", 1)[1])
        url = f"ws://{base}/ws/game"
        status, body = await refusal(url, additional_headers={"Origin": "http://evil.example"})
        assert status == 403 and "http://evil.example" in body and "may not" in body
        # DNS rebinding: a page on evil.example whose name now points at 127.0.0.1.
        rebound = f"ws://evil.example:{port}/ws/game"
        status, body = await refusal(rebound, host="127.0.0.1", port=port)
        assert status == 403 and "evil.example" in body and "Host" in body
        # Another program's page on this machine (another port) is foreign too.
        status, _ = await refusal(url, additional_headers={"Origin": "http://127.0.0.1:1"})
        assert status == 403
        await accepted(url, f"http://{base}")  # the server's own page
        await accepted(url, allowed)  # listed in allowed_origins
        await wait_health(base, lambda h: h["games"] == 0, 10.0)

    settings = {"database": tmp_path / "games.sqlite3", "allowed_origins": [allowed]}
    with running_server(game_models, **settings) as base:
        play(lambda: scenario(base))
        page = httpx.get(f"http://{base}/", headers={"Host": "evil.example"}, timeout=GUARD_S)
        assert page.status_code == 403 and "evil.example" in page.text
        assert httpx.get(f"http://{base}/", timeout=GUARD_S).status_code == 200

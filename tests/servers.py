"""Real servers for tests: uvicorn in a thread on a free loopback port, with chosen settings."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


@contextlib.contextmanager
def running_server(game_models: Any, **settings: Any) -> Iterator[str]:
    """Serve the real app with `Settings(**settings)`; yields "127.0.0.1:PORT"."""
    import uvicorn

    from app.web.server import create_app, uvicorn_config
    from app.web.settings import Settings

    scratch = None
    if "database" not in settings:  # never the repository's artifacts/games.sqlite3
        scratch = tempfile.TemporaryDirectory(prefix="tycoon-test-")
        settings["database"] = Path(scratch.name) / "games.sqlite3"
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = Settings(port=port, **settings)
    server = uvicorn.Server(
        uvicorn_config(create_app(config, game_models), config, log_level="warning")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    give_up = time.monotonic() + 30.0
    while not server.started:
        if not thread.is_alive() or time.monotonic() > give_up:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30.0)
        sock.close()
        if scratch is not None:
            scratch.cleanup()


def play(scenario: Callable[[], Awaitable[T]], guard_s: float = 60.0) -> T:
    """Run an async scenario, failing (not hanging) after `guard_s` seconds."""

    async def main() -> T:
        return await asyncio.wait_for(scenario(), guard_s)

    return asyncio.run(main())

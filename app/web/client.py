"""A Python client of `/ws/game` (docs/protocol.md): what the dashboard does, without the drawing.

It keeps the game's state by applying delta frames to the last snapshot, appends history
points, and acknowledges every fourth frame it reads (and every snapshot), as the page does. The test suite and the load benchmark
(`bench/load.py`) play through it, against a real server.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import orjson
import websockets

from app.web.delta import apply

Frame = dict[str, Any]


class GameClient:
    """One websocket connection to a game, with the state it has rebuilt from the frames."""

    def __init__(
        self, ws: websockets.ClientConnection, *, ack: bool = True, ack_every: int = 4
    ) -> None:
        self.ws = ws
        self.ack = ack
        self.ack_every = ack_every  # frames between acks, as the page does (acks cost the server)
        self._acked = 0
        self.state: dict[str, Any] | None = None
        self.history: dict[str, Any] | None = None
        self.session_id: str | None = None
        self.errors: list[str] = []
        self.frames = 0
        self.bytes = 0

    @classmethod
    async def connect(
        cls,
        base: str,
        session: str | None = None,
        *,
        ack: bool = True,
        headers: dict[str, str] | None = None,
    ) -> GameClient:
        """Open `ws://BASE/ws/game` (resuming `session`); the snapshot is read by `recv`."""
        url = f"ws://{base}/ws/game" + (f"?session={session}" if session else "")
        ws = await websockets.connect(url, additional_headers=headers, max_size=1 << 22)
        return cls(ws, ack=ack)

    async def close(self) -> None:
        await self.ws.close()

    async def recv(self) -> Frame:
        """The next frame, after it updated `state` and `history` (and was acknowledged)."""
        text = await self.ws.recv()
        self.bytes += len(text)
        frame: Frame = orjson.loads(text)
        self.frames += 1
        kind = frame["type"]
        if kind == "snapshot":
            self.state = copy.deepcopy(frame["state"])
            self.history = copy.deepcopy(frame["history"])
            self.session_id = frame["session_id"]
        elif kind == "delta":
            if self.state is None or self.history is None:
                raise AssertionError("a delta frame before any snapshot")
            apply(self.state, frame["patch"])
            if self.state["tick"] != frame["tick"]:
                raise AssertionError(f"delta for tick {frame['tick']} left {self.state['tick']}")
            _append(self.history, frame["points"])
        elif kind == "error":
            self.errors.append(frame["message"])
        if self.ack and kind in ("snapshot", "delta"):
            seq = frame["seq"]
            if kind == "snapshot" or seq < self._acked or seq - self._acked >= self.ack_every:
                self._acked = seq
                await self.ws.send(orjson.dumps({"type": "ack", "seq": seq}).decode())
        return frame

    async def until(self, accept: Callable[[Frame], bool], limit: int = 10_000) -> Frame:
        """Read frames until one is accepted."""
        for _ in range(limit):
            frame = await self.recv()
            if accept(frame):
                return frame
        raise AssertionError(f"no accepted frame in {limit} frames")

    async def send(self, command: dict[str, Any] | str | bytes) -> None:
        if isinstance(command, dict):
            command = orjson.dumps(command).decode()
        await self.ws.send(command)

    async def command(self, command: dict[str, Any] | str | bytes) -> Frame:
        """Send a command and read until its answer: an error, a snapshot, or a changed state."""
        before = self.frames
        await self.send(command)
        return await self.until(lambda f: self.frames > before)

    async def step(self) -> Frame:
        """Play one tick; the frame that shows it."""
        tick = self.state["tick"] if self.state else -1
        await self.send({"type": "step"})
        return await self.until(
            lambda f: f["type"] == "error" or (self.state is not None and self.state["tick"] > tick)
        )


def _append(history: dict[str, Any], points: dict[str, Any]) -> None:
    last = history["tick"][-1] if history["tick"] else -1
    for k, tick in enumerate(points["tick"]):
        if tick <= last:
            continue
        history["tick"].append(tick)
        history["ghost"].append(points["ghost"][k])
        for name, values in points["profit"].items():
            history["profit"].setdefault(name, []).append(values[k])

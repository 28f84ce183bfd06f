"""Running one game session over one websocket: receive commands, tick on time, send frames.

Three asyncio tasks share the session (safely: they only touch it between awaits):
- the ticker plays ticks at the session's pace;
- the receiver parses client messages and applies commands;
- the sender writes frames from an `Outbox`.
The outbox keeps snapshots and error frames in order (and bounded: a client that sends faster than
it reads is slowed down), but holds at most one state frame, the latest: a slow client skips
states instead of queueing them, so memory stays flat at any speed.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.websockets import WebSocket, WebSocketDisconnect

from app.game.progress import GameRuleError
from app.web.commands import CommandError, parse_command
from app.web.pacing import TickSchedule
from app.web.schemas import ErrorFrame, ServerFrame, SnapshotFrame, TickFrame
from app.web.session import GameSession

# Ordered frames (snapshots, errors) waiting to be sent before the receiver waits for the client.
_MAX_ORDERED_FRAMES = 32
# If the ticker falls this many seconds behind (slow machine), it stops trying to catch up.
_MAX_LAG_S = 1.0


class Outbox:
    """Frames waiting for the sender: ordered ones first, then the latest state."""

    def __init__(self) -> None:
        self._ordered: asyncio.Queue[ServerFrame] = asyncio.Queue(maxsize=_MAX_ORDERED_FRAMES)
        self._latest: TickFrame | None = None
        self._wake = asyncio.Event()

    async def put_ordered(self, frame: SnapshotFrame | ErrorFrame) -> None:
        """Queue a frame that must arrive; a snapshot supersedes any state not yet sent."""
        if isinstance(frame, SnapshotFrame):
            self._latest = None
        await self._ordered.put(frame)
        self._wake.set()

    def put_latest(self, frame: TickFrame) -> None:
        """Offer a state; it replaces any state the client has not been sent yet."""
        self._latest = frame
        self._wake.set()

    async def next(self) -> ServerFrame:
        """The next frame to send, waiting for one if there is none."""
        while True:
            if not self._ordered.empty():
                return self._ordered.get_nowait()
            if self._latest is not None:
                frame, self._latest = self._latest, None
                return frame
            self._wake.clear()
            await self._wake.wait()


class Connection:
    """One websocket client playing one `GameSession`."""

    def __init__(self, websocket: WebSocket, session: GameSession, max_message_bytes: int) -> None:
        self.websocket = websocket
        self.session = session
        self.max_message_bytes = max_message_bytes
        self.outbox = Outbox()
        self._pace_changed = asyncio.Event()

    async def run(self) -> None:
        """Play until the client goes away (or the server shuts down)."""
        await self.outbox.put_ordered(self.session.snapshot())
        tasks = [
            asyncio.create_task(self._send(), name="game-sender"),
            asyncio.create_task(self._receive(), name="game-receiver"),
            asyncio.create_task(self._tick(), name="game-ticker"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                exc = task.exception()
                if exc is not None and not isinstance(exc, WebSocketDisconnect):
                    raise exc
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                    await task

    async def _send(self) -> None:
        while True:
            frame = await self.outbox.next()
            await self.websocket.send_text(frame.model_dump_json())

    async def _receive(self) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                await self._error("binary messages are not accepted: send commands as JSON text")
                continue
            try:
                command = parse_command(text, self.max_message_bytes)
                reply = self.session.handle(command)
            except (CommandError, GameRuleError) as exc:
                await self._error(str(exc))
                continue
            if isinstance(reply.frame, SnapshotFrame):
                await self.outbox.put_ordered(reply.frame)
            else:
                self.outbox.put_latest(reply.frame)
            if reply.pace_changed:
                self._pace_changed.set()

    async def _error(self, message: str) -> None:
        await self.outbox.put_ordered(ErrorFrame(message=message))

    async def _tick(self) -> None:
        schedule = TickSchedule(asyncio.get_running_loop().time, _MAX_LAG_S)
        while True:
            interval = self.session.tick_interval
            if interval is None:  # paused: wait for a pace command
                await self._pace_changed.wait()
                self._pace_changed.clear()
                schedule.restart()
                continue
            wait = schedule.next_wait(interval)
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
            # (CPython gh-86296), which would leave this task ticking after its client left.
            try:
                async with asyncio.timeout(wait):
                    await self._pace_changed.wait()
            except TimeoutError:
                # A command may have changed the pace after the timer fired but before this
                # task resumed: then the loop starts over instead of playing a stale tick.
                if not self._pace_changed.is_set() and self.session.tick_interval is not None:
                    self.outbox.put_latest(self.session.tick())
            else:  # new pace: start timing afresh from now
                self._pace_changed.clear()
                schedule.restart()

"""One websocket watching (and driving) one game: commands in, snapshot and delta frames out.

Two tasks per connection, sharing its state between awaits only:
- the receiver parses messages: acks move the frame window, commands go to the game (through a
  token bucket), and anything malformed becomes an error frame;
- the sender writes queued error (and notice) frames once the first snapshot is out, a snapshot
  when one is due, and otherwise one delta from the last state it sent to the game's latest, at
  most `frame_window` frames ahead of the client's acks. A slow client therefore never gets a
  backlog: it skips states, and its next delta brings it straight to the latest one. Memory per
  connection stays flat at any speed.
The game's ticker is not here: it belongs to the game (`app.web.live`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import MutableMapping
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from app.game.progress import GameRuleError
from app.web.commands import CommandError, parse_command
from app.web.frames import delta_frame, error_frame, factory_names, snapshot_frame
from app.web.live import LiveGame
from app.web.rate_limit import TokenBucket
from app.web.registry import GameRegistry, Joined
from app.web.schemas import Ack, GameConfig, ModelMetrics
from app.web.state_view import View

# Error frames waiting to be sent; beyond this the oldest are dropped (a flood of bad messages).
_MAX_ERRORS = 32
# A client this many history points behind gets a snapshot instead of a huge delta.
_MAX_POINTS_PER_DELTA = 1000


class Connection:
    """One websocket client of one game."""

    def __init__(
        self,
        websocket: WebSocket,
        registry: GameRegistry,
        config: GameConfig,
        models: ModelMetrics,
    ) -> None:
        settings = registry.settings
        self.websocket = websocket
        self.registry = registry
        self.config = config
        self.models = models
        self.max_message_bytes = settings.max_message_bytes
        self.window = settings.frame_window
        self.bucket = TokenBucket(settings.commands_per_second, settings.command_burst)
        self._wake = asyncio.Event()
        self._errors: deque[bytes] = deque(maxlen=_MAX_ERRORS)
        self._snapshot_due = True
        self._seq = 0  # frames sent
        self._acked = 0  # highest seq the client acknowledged
        self._sent_view: View | None = None
        self._sent_version = -1
        self._sent_tick: int | None = None
        self._joined: Joined | None = None
        self._drop_report: asyncio.TimerHandle | None = None  # a report of drops to come

    # ---------------------------------------------------------------- Watcher

    def game_changed(self, restarted: bool) -> None:
        if restarted:
            self._snapshot_due = True
        self._wake.set()

    def tell(self, frame: bytes) -> None:
        self._errors.append(frame)
        self._wake.set()

    # ---------------------------------------------------------------- running

    async def run(self, joined: Joined) -> None:
        """Play until the client goes away (or the server shuts down)."""
        self._joined = joined
        tasks = [
            asyncio.create_task(self._send(), name="game-sender"),
            asyncio.create_task(self._receive(), name="game-receiver"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                exc = task.exception()
                if exc is not None and not isinstance(exc, WebSocketDisconnect):
                    raise exc
        finally:
            if self._drop_report is not None:
                self._drop_report.cancel()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                    await task

    @property
    def game(self) -> LiveGame:
        assert self._joined is not None
        return self._joined.game

    # ---------------------------------------------------------------- sending

    async def _send(self) -> None:
        while True:
            while self._errors and self._sent_view is not None:  # the snapshot comes first
                await self._write(self._errors.popleft())
            if self._snapshot_due:
                await self._send_snapshot()
            elif self._delta_wanted():
                await self._send_delta()
            else:
                self._wake.clear()
                await self._wake.wait()

    def _delta_wanted(self) -> bool:
        return (
            self.game.session.version != self._sent_version
            and self._seq - self._acked < self.window
        )

    async def _send_snapshot(self) -> None:
        joined = self._joined
        assert joined is not None
        self._snapshot_due = False
        session = self.game.session
        self._seq += 1
        first = self._sent_view is None
        data, view = snapshot_frame(
            session,
            self.config,
            self.models,
            seq=self._seq,
            session_id=self.game.session_id,
            resumed=joined.resumed and first,
            notice=joined.notice if first else None,
        )
        self._remember(view)
        await self._write(data)

    async def _send_delta(self) -> None:
        session = self.game.session
        points = session.history.since(self._sent_tick)
        if len(points) > _MAX_POINTS_PER_DELTA:
            await self._send_snapshot()
            return
        view = session.view()
        patch = session.patch(self._sent_view, view) if self._sent_view is not None else {}
        self._seq += 1
        data = delta_frame(self._seq, view["tick"], patch, points, factory_names(view))
        self._remember(view)
        await self._write(data)

    def _remember(self, view: View) -> None:
        self._sent_view = view
        self._sent_version = self.game.session.version
        self._sent_tick = self.game.session.history.last_tick

    async def _write(self, data: bytes) -> None:
        await send_text(self.websocket, data.decode())

    # ---------------------------------------------------------------- receiving

    async def _receive(self) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            self._on_message(message)

    def _on_message(self, message: MutableMapping[str, Any]) -> None:
        text = message.get("text")
        try:
            if text is None:
                raise CommandError("binary messages are not accepted: send commands as JSON text")
            command = parse_command(text, self.max_message_bytes)
        except CommandError as exc:
            self._refuse(str(exc))
            return
        if isinstance(command, Ack):  # acks are not rate-limited: they only allow frames
            self._acked = max(self._acked, min(command.seq, self._seq))
            self._wake.set()
            return
        if not self.bucket.take():
            self._dropped()
            return
        try:
            outcome = self.game.session.handle(command)
        except GameRuleError as exc:
            self._error(str(exc))
            return
        self.game.changed(outcome)

    def _refuse(self, message: str) -> None:
        """A malformed message: an error frame, within the rate limit (a flood is counted)."""
        if self.bucket.take():
            self._error(message)
        else:
            self._dropped()

    def _dropped(self) -> None:
        """A command was dropped: say how many now, or when the next report is due (at most one
        a second), so every drop of a flood is counted even when the flood stops."""
        if self._drop_report is not None:
            return  # the scheduled report will count this one
        report = self.bucket.report()
        if report is not None:
            self._error(report)
        elif (due := self.bucket.report_due_in()) is not None:
            self._drop_report = asyncio.get_running_loop().call_later(due, self._late_report)

    def _late_report(self) -> None:
        self._drop_report = None
        self._dropped()

    def _error(self, message: str) -> None:
        self._errors.append(error_frame(message))
        self._wake.set()


async def send_text(websocket: WebSocket, text: str) -> None:
    """Send a text frame; a peer that went away between two sends is a `WebSocketDisconnect`.

    Starlette turns the server's "connection closed" OSError into one, but uvicorn before 0.50
    (which Flower's extra pins) raises RuntimeError for a send after the close was seen.
    """
    try:
        await websocket.send({"type": "websocket.send", "text": text})
    except RuntimeError as exc:
        raise WebSocketDisconnect(code=1006) from exc

"""A game being played: its session, the connections watching it, and the one task that ticks it.

The ticker belongs to the game, not to a connection, and runs only while someone watches: it
starts with the first connection and is cancelled with the last (`app.web.registry` does both),
so a closed tab never leaves a game ticking. It wakes at most `max_frames_per_second` times a
second and plays every tick that came due since (see `app.web.pacing.TickClock`), then tells the
watchers that there is something new; each watcher's sender builds its own delta frame.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from app.web.pacing import TickClock
from app.web.session import GameSession, Outcome
from app.web.settings import Settings

# A game that falls this many seconds behind (a busy machine) stops trying to catch up.
_MAX_LAG_S = 1.0


class Watcher(Protocol):
    """A connection showing a game: told when it changed, or was started over, and handed
    frames about the game itself (e.g. that it is not being saved) to send after its snapshot."""

    def game_changed(self, restarted: bool) -> None: ...

    def tell(self, frame: bytes) -> None: ...


class LiveGame:
    """A session with its watchers and ticker."""

    def __init__(self, session_id: str, session: GameSession, settings: Settings) -> None:
        self.session_id = session_id
        self.session = session
        self.settings = settings
        self.watchers: set[Watcher] = set()
        self.saved_version = -1  # the session version last written to the store
        self.saved_tick: int | None = None  # the last tick whose history point is stored
        self.new_history = False  # started over since the last save: replace the stored history
        self.saved_at = float("-inf")  # loop time of the last save
        self._pace_changed = asyncio.Event()
        self._ticker: asyncio.Task[None] | None = None

    # ---------------------------------------------------------------- watchers

    def add(self, watcher: Watcher) -> None:
        self.watchers.add(watcher)
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.create_task(self._tick(), name=f"game-ticker-{self.session_id}")

    def remove(self, watcher: Watcher) -> None:
        self.watchers.discard(watcher)

    async def stop(self) -> None:
        """Stop ticking (the last watcher left, or the server is going down)."""
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker

    @property
    def ticking(self) -> bool:
        return self._ticker is not None and not self._ticker.done()

    def changed(self, outcome: Outcome | None = None) -> None:
        """Something a frame shows changed: tell every watcher (and the ticker of a new pace)."""
        restarted = outcome is not None and outcome.restarted
        if restarted:
            self.saved_tick, self.new_history = None, True
        if outcome is not None and outcome.pace_changed:
            self._pace_changed.set()
        for watcher in list(self.watchers):
            watcher.game_changed(restarted)

    # ---------------------------------------------------------------- time

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        clock = TickClock(loop.time, self.settings.max_frames_per_second, _MAX_LAG_S)
        session = self.session
        while True:
            if session.tick_interval is None:  # paused: wait for a pace command
                await self._pace_changed.wait()
                self._pace_changed.clear()
                clock.restart()
                continue
            wait = clock.wait(session.ticks_per_second)
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
            # (CPython gh-86296), which would leave this task ticking after its watchers left.
            try:
                async with asyncio.timeout(wait):
                    await self._pace_changed.wait()
            except TimeoutError:
                # A command may have changed the pace after the timer fired but before this
                # task resumed: then the loop starts over instead of playing stale ticks.
                if self._pace_changed.is_set() or session.tick_interval is None:
                    continue
                due = clock.due(session.ticks_per_second)
                if due and session.advance(due):
                    self.changed()
            else:  # new pace: count afresh from now
                self._pace_changed.clear()
                clock.restart()

"""Every game the server holds: found by session id, loaded from and saved to the store, capped.

- A game is in memory while a connection watches it. The last connection to leave stops its
  ticker, saves it and drops it, so nobody's closed tab costs CPU (issue: 100 abandoned games at
  speed 50 used to tick on forever).
- Games are saved at least every `save_interval_s` while they change, when their last watcher
  leaves and when the server stops; a reload (or a restart after kill -9) picks up the save.
- `max_games` games at once, `max_connections_per_client` connections per client address.
- A lab model deployed into a game (`app.web.deployments`) is kept here while nobody watches
  the game, and given back when it is picked up again; a server restart drops it, and a game
  resumed without the lab model it ran says so.
- A game whose save fails stays in memory, even with nobody watching, and is tried again every
  `save_interval_s` until it is saved; its players are told (`app.web.save_faults`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from app.game.decisions import DecisionTables
from app.game.engines import EngineTrace
from app.game.history import ProfitPoint
from app.web.deployments import Deployment, KeptDeployments, dropped_notice
from app.web.frames import history_dict
from app.web.live import LiveGame, Watcher
from app.web.save_faults import SaveFaults
from app.web.session import GameSession
from app.web.settings import Settings
from app.web.store import (
    AsyncGameStore,
    HistoryChunk,
    SavedGame,
    SaveRecord,
    StoreError,
    new_session_id,
    valid_session_id,
)


class ServerFull(RuntimeError):
    """No room for another game or connection; the message says which limit was hit."""


@dataclass(frozen=True)
class Joined:
    """A watcher's game, whether it was a saved one picked up again, and a word about it."""

    game: LiveGame
    resumed: bool
    notice: str | None


class GameRegistry:
    """The server's games by session id."""

    def __init__(
        self,
        settings: Settings,
        pool: Sequence[EngineTrace],
        tables: DecisionTables,
        store: AsyncGameStore | None,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.tables = tables
        self.store = store
        self.games: dict[str, LiveGame] = {}
        self._clients: Counter[str] = Counter()
        self._loading: dict[str, asyncio.Lock] = {}
        self._saver: asyncio.Task[None] | None = None
        self._saving = asyncio.Lock()  # one save at a time: see `_save`
        self.faults = SaveFaults(settings.save_interval_s)
        self.kept = KeptDeployments()  # lab models of games out of memory (nobody watching)

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        if self.store is not None:
            max_age_s = self.settings.game_expiry_days * 86400
            await self.store.expire(time.time(), max_age_s)
            await asyncio.to_thread(self.faults.open_record, self.settings.database, max_age_s)
        self._saver = asyncio.create_task(self._save_periodically(), name="game-saver")

    async def shutdown(self) -> None:
        """Stop every ticker and save every game (the server is stopping)."""
        if self._saver is not None:
            self._saver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._saver
        for game in list(self.games.values()):
            await game.stop()
        games = list(self.games.values())
        try:
            await self._save(games)
        except StoreError as exc:  # told in words: the log, and the record read at the restart
            self.faults.lost(_unsaved(games), self.settings.database, exc)
        self.games.clear()
        if self.store is not None:
            await self.store.aclose()

    # ---------------------------------------------------------------- joining and leaving

    def admit(self, client: str) -> None:
        """Count a connection from `client`, or refuse it when that address has too many."""
        limit = self.settings.max_connections_per_client
        if self._clients[client] >= limit:
            raise ServerFull(
                f"too many connections from your address ({limit} at most): close other tabs"
            )
        self._clients[client] += 1

    def release(self, client: str) -> None:
        self._clients[client] -= 1
        if self._clients[client] <= 0:
            del self._clients[client]

    async def join(self, requested: str | None, watcher: Watcher) -> Joined:
        """The game `requested` (in memory, or saved), or a new one; `watcher` now watches it."""
        notice = None
        if requested is not None and not valid_session_id(requested):
            notice = "That saved-game id is not valid, so a new game was started."
            requested = None
        if requested is not None:
            lock = self._loading.setdefault(requested, asyncio.Lock())
            try:
                async with lock:  # two tabs resuming one game at once load it once
                    game = self.games.get(requested)
                    if game is None:
                        game, notice = await self._load(requested)
                    if game is not None:
                        game.add(watcher)
                        self.faults.greet(game, watcher)
                        return Joined(game, True, notice)
            finally:
                if not lock.locked():
                    self._loading.pop(requested, None)
        game = self._new_game()
        game.add(watcher)
        return Joined(game, False, notice)

    async def leave(self, game: LiveGame, watcher: Watcher) -> None:
        """`watcher` left; the last one out stops the game and saves it."""
        game.remove(watcher)
        if game.watchers:
            return
        await game.stop()
        try:
            await self._save([game])
        except StoreError:
            if _unsaved([game]):  # kept in memory: the periodic save tries again (it was told)
                return
        if not game.watchers and self.games.get(game.session_id) is game:
            self._forget(game)

    def _forget(self, game: LiveGame) -> None:
        """Drop a game nobody watches from memory, keeping its lab model for its next visit."""
        del self.games[game.session_id]
        if self.store is not None and game.session.deployment is not None:
            self.kept.keep(game.session_id, game.session.deployment)

    def deployment(self, session_id: str) -> Deployment | None:
        """The lab model the game `session_id` runs (in memory or kept), if any."""
        game = self.games.get(session_id)
        return game.session.deployment if game is not None else self.kept.get(session_id)

    def _new_game(self) -> LiveGame:
        self._check_room()
        session_id = new_session_id()
        game = LiveGame(
            session_id, GameSession(self.settings, self.pool, self.tables), self.settings
        )
        self.games[session_id] = game
        return game

    def _check_room(self) -> None:
        if len(self.games) >= self.settings.max_games:
            raise ServerFull(
                f"the server is full ({self.settings.max_games} games are being played); "
                "try again in a minute"
            )

    async def _load(self, session_id: str) -> tuple[LiveGame | None, str | None]:
        if self.store is None:
            return None, "Games are not saved on this server, so a new game was started."
        saved = await self.store.load(session_id)
        if saved is None:
            return None, self.faults.missing_notice(session_id) or (
                "Your saved game was not found (saved games expire after "
                f"{self.settings.game_expiry_days:g} days), so a new game was started."
            )
        try:
            session, lab_model = _restore(self.settings, self.pool, self.tables, saved)
        except ValueError as exc:
            return None, f"Your saved game could not be read ({exc}), so a new game was started."
        self._check_room()
        deployment = self.kept.take(session_id)
        if deployment is not None:
            session.deploy(deployment)
        game = LiveGame(session_id, session, self.settings)
        game.saved_version, game.saved_tick = session.version, session.tick
        self.games[session_id] = game
        notice = self.faults.resumed_notice(saved)
        if lab_model is not None and deployment is None:
            notice = " ".join(n for n in (notice, dropped_notice(lab_model)) if n)
        return game, notice

    # ---------------------------------------------------------------- saving

    async def _save_periodically(self) -> None:
        # Every game is saved once `save_interval_s` has passed since its last save, checked ten
        # times per interval: the saves spread over the interval instead of stalling the loop.
        interval = self.settings.save_interval_s
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval / 10)
            due = loop.time() - interval
            changed = [
                g
                for g in self.games.values()
                if g.saved_version != g.session.version and g.saved_at <= due
            ]
            with contextlib.suppress(StoreError):  # told by `_save`; the next round tries again
                await self._save(changed)
                for game in changed:  # saved at last, and nobody watches: no need to keep it
                    if not game.watchers and self.games.get(game.session_id) is game:
                        self._forget(game)

    async def _save(self, games: Sequence[LiveGame]) -> None:
        # One at a time: a game's marks are set before the write and put back when it fails, so
        # two overlapping saves of one game (the periodic one and a closing tab's) that both
        # failed left the second's marks, and the game counted as saved when it was not.
        async with self._saving:
            await self._save_now(games)

    async def _save_now(self, games: Sequence[LiveGame]) -> None:
        if self.store is None or not games:
            return
        records = []
        marks = [(g, g.saved_version, g.saved_tick, g.new_history) for g in games]
        for game in games:
            session = game.session
            points = session.history.since(game.saved_tick)
            chunk = None
            if points:
                text = orjson.dumps(history_dict(points, list(points[-1].profit))).decode()
                chunk = HistoryChunk(points[0].tick, points[-1].tick, text)
            records.append(
                SaveRecord(
                    session_id=game.session_id,
                    tick=session.tick,
                    state_json=session.saved_json().decode(),
                    chunk=chunk,
                    keep_from_tick=max(0, session.tick - self.settings.history_limit),
                    new_history=game.new_history,
                )
            )
            game.saved_version = session.version
            game.saved_tick = session.tick
            game.saved_at = asyncio.get_running_loop().time()
            game.new_history = False
        try:
            await self.store.save_many(records, time.time())
        except BaseException as exc:  # cancelled too (a closing tab's save when the server
            # stops): whether it was written is unknown, so it counts as not saved (seen in CI)
            for game, version, tick, new in marks:  # not saved: try again next time
                game.saved_version = version
                game.new_history = game.new_history or new  # (a reset may have come meanwhile)
                game.saved_tick = None if game.new_history else tick
            if isinstance(exc, Exception):
                self.faults.failed(self.settings.database, _unsaved(games), exc)
            raise
        self.faults.saved(games)


def _unsaved(games: Sequence[LiveGame]) -> list[LiveGame]:
    """The games with moves not in the store (a failed save of the others loses nothing)."""
    return [g for g in games if g.saved_version != g.session.version]


def _restore(
    settings: Settings, pool: Sequence[EngineTrace], tables: DecisionTables, saved: SavedGame
) -> tuple[GameSession, str | None]:
    """The saved session, and the name of the lab model it ran when saved (not saved itself)."""
    try:
        record: Any = orjson.loads(saved.state_json)
        points = [p for chunk in saved.history for p in _points(orjson.loads(chunk.points_json))]
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"damaged record: {exc}") from None
    session = GameSession.restore(settings, pool, tables, record, points)
    lab_model = record.get("lab_model")
    return session, lab_model if isinstance(lab_model, str) else None


def _points(data: Any) -> list[ProfitPoint]:
    try:
        ticks, profits, ghosts = data["tick"], data["profit"], data["ghost"]
        return [
            ProfitPoint(int(t), {name: float(v[k]) for name, v in profits.items()}, ghosts[k])
            for k, t in enumerate(ticks)
        ]
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        raise ValueError(f"damaged history: {exc!r}") from None

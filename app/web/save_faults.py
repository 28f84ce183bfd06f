"""Games that cannot be saved: their players are told once, in words, and again when it works.

Why: a full disk used to fail every save in silence (hundreds of log lines, nothing on screen),
and the games were lost at the next restart, which then blamed expiry. Now, per game and per
failure episode (from its first failed save to its next good one):
- its players get one error frame, code "not_saved", saying the cause: disk full, read-only disk,
  permission denied, ...; a tab that joins meanwhile gets it too;
- the log says it once; the save loop keeps trying every `save_interval_s`;
- the session id goes in the side record (`app.web.unsaved`), so a restart says the game could
  not be saved instead of "not found";
- when a save works again: one notice frame "saved", one log line, the record is cleared.
"""

from __future__ import annotations

import logging
import os
import resource
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from app.web.frames import error_frame, saved_again_frame
from app.web.live import LiveGame, Watcher
from app.web.save_records import SavedGame
from app.web.unsaved import UnsavedRecord

_log = logging.getLogger("tycoon.games")
_SMALL_FILE = 64 * 1024  # bytes: a file this close to `ulimit -f` cannot take another save


def cause_in_words(database: Path, exc: BaseException) -> str:
    """Why writing `database` failed, in words a player understands ("disk full", ...).

    SQLite names a full disk (SQLITE_FULL) but reports most other write failures as "disk I/O
    error", so the file system is asked too: is it read-only, may we write the files, are they
    at this process's file size limit.
    """
    error = exc.__cause__ if isinstance(exc.__cause__, sqlite3.Error) else exc
    code = getattr(error, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    files = [p for p in (database, Path(f"{database}-wal")) if p.exists()]
    try:
        read_only = bool(os.statvfs(database.parent).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    if read_only:
        return "the disk is read-only"
    if primary == sqlite3.SQLITE_FULL:
        return "disk full"
    if not os.access(database.parent, os.W_OK | os.X_OK) or not all(
        os.access(p, os.W_OK) for p in files
    ):
        return "permission denied: the save file is not writable"
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY and any(
        p.stat().st_size > limit - _SMALL_FILE for p in files
    ):
        return f"the file size limit (ulimit -f, {limit} bytes) is reached"
    if primary == sqlite3.SQLITE_READONLY:
        return "the save file is read-only"
    return str(error).rstrip(".") or type(error).__name__


class SaveFaults:
    """Which games' saves are failing, and why; tells their watchers, the log and the record."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.failing: dict[str, str] = {}  # session id -> the cause, in words
        self.record = UnsavedRecord(None, {})

    def open_record(self, database: Path, max_age_s: float) -> None:
        """Keep the record beside `database` (read back what an earlier run wrote)."""
        self.record = UnsavedRecord.open(database, max_age_s)

    def failed(self, database: Path, games: Sequence[LiveGame], exc: BaseException) -> None:
        """Saving `games` failed with `exc`: tell those not told yet in this episode."""
        new = [g for g in games if g.session_id not in self.failing]
        if not new:
            return
        cause = cause_in_words(database, exc)
        frame = error_frame(self._message(cause), code="not_saved")
        detail = exc.__cause__ if isinstance(exc.__cause__, sqlite3.Error) else exc
        for game in new:
            self.failing[game.session_id] = cause
            _log.error(
                "game %s is not being saved in %s: %s (%s); trying again every %g s",
                _short(game.session_id),
                database,
                cause,
                detail,
                self.interval_s,
            )
            for watcher in list(game.watchers):
                watcher.tell(frame)
        self.record.mark([g.session_id for g in new], cause)

    def saved(self, games: Sequence[LiveGame]) -> None:
        """`games` were saved: end their failure episodes (and any record of an earlier run)."""
        frame = saved_again_frame("Your game is being saved again.")
        for game in games:
            if self.failing.pop(game.session_id, None) is None:
                continue
            _log.warning("game %s is saved again", _short(game.session_id))
            for watcher in list(game.watchers):
                watcher.tell(frame)
        self.record.clear([g.session_id for g in games])

    def lost(self, games: Sequence[LiveGame], database: Path, exc: BaseException) -> None:
        """The server stops and `games` could not be saved: say so, and keep it in the record."""
        if not games:
            return
        cause = cause_in_words(database, exc)
        _log.error(
            "%d games could not be saved before stopping (%s): their latest moves are lost",
            len(games),
            cause,
        )
        self.record.mark([g.session_id for g in games], cause)

    def greet(self, game: LiveGame, watcher: Watcher) -> None:
        """`watcher` joined `game`: tell it when the game is not being saved."""
        cause = self.failing.get(game.session_id)
        if cause is not None:
            watcher.tell(error_frame(self._message(cause), code="not_saved"))

    def missing_notice(self, session_id: str) -> str | None:
        """Why a saved game is not found, when it is because it could not be saved."""
        cause = self.record.cause(session_id)
        if cause is None:
            return None
        return f"Your game could not be saved ({cause}) and was lost, so a new game was started."

    def resumed_notice(self, saved: SavedGame) -> str | None:
        """What to say when a game is resumed from a save older than its last moves."""
        entry = self.record.entries.get(saved.session_id)
        if entry is None or saved.updated_at > entry[0]:  # saved after it failed: all is there
            return None
        cause = entry[1]
        self.record.clear([saved.session_id])  # said once; the game is played (and saved) again
        return (
            f"Your latest moves could not be saved ({cause}): the game goes on from its last "
            f"save, at tick {saved.tick}."
        )

    def _message(self, cause: str) -> str:
        return (
            f"Your game is not being saved: {cause}. You can go on playing: saving is tried "
            f"again every {self.interval_s:g} s, but if the server stopped now, what was not "
            "saved would be lost."
        )


def _short(session_id: str) -> str:
    """The start of a session id, enough to find a game in the log without handing it out."""
    return session_id[:6] + "..."

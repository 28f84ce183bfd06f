"""Saved games: one SQLite file that keeps every game across page reloads and server restarts.

Why SQLite in WAL mode with `synchronous=NORMAL`: a committed save survives the server being
killed (even `kill -9`): the write-ahead log is replayed on the next open, and a save costs no
fsync. A power cut may lose the last moments, as the protocol allows.

Why `locking_mode=EXCLUSIVE`: in that mode SQLite keeps the WAL index in the process's own
memory instead of a `-shm` file mapped into it. A mapped file that stops being writable (e.g.
`chattr +i` on ext4) kills the process with SIGBUS at its next save, with no chance to log; a
plain file write fails with an error the server can tell players about (app.web.save_faults).
The cost: no other program may read the file while a server has it open, and only one server
may use a file anyway (`app.web.save_lock` refuses a second one and names the first).

Why so strict on opening: the file holds players' games, so a file that is not ours, is damaged,
or was written by a newer version is refused with a `StoreError` that says what to do. It is never
reset or recreated behind the player's back; that decision belongs to a person.

`GameStore` is synchronous and owns one connection; `AsyncGameStore` runs it on one worker thread,
so the asyncio server never waits on the disk and the connection never changes threads.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from app.web import save_lock
from app.web.save_records import (
    HistoryChunk,
    SavedGame,
    SaveRecord,
    new_session_id,
    valid_session_id,
)

__all__ = [
    "SCHEMA_VERSION",
    "AsyncGameStore",
    "GameStore",
    "HistoryChunk",
    "SaveRecord",
    "SavedGame",
    "StoreError",
    "hold_save_file",
    "new_session_id",
    "release_save_file",
    "valid_session_id",
]

SCHEMA_VERSION = 1  # PRAGMA user_version of the files this code writes (and the newest it reads)

_SCHEMA = (
    "CREATE TABLE games (session_id TEXT PRIMARY KEY, updated_at REAL NOT NULL, "
    "tick INTEGER NOT NULL, state TEXT NOT NULL)",
    "CREATE TABLE history (session_id TEXT NOT NULL, first_tick INTEGER NOT NULL, "
    "last_tick INTEGER NOT NULL, points TEXT NOT NULL)",
    "CREATE INDEX history_by_session ON history (session_id, first_tick)",
)

_T = TypeVar("_T")


class StoreError(RuntimeError):
    """The save file cannot be used; the message names the file and what to do about it."""


def hold_save_file(path: Path) -> None:
    """Hold the save file for this process (`app.web.save_lock`), or a StoreError that names
    the process holding it; `release_save_file` gives the hold back."""
    try:
        save_lock.acquire(path)
    except save_lock.SaveFileInUse as e:
        raise StoreError(str(e)) from None
    except OSError as e:
        where = save_lock.lock_path(path)
        raise StoreError(
            f"cannot lock {path} ({e.strerror or e} on {where}): check the disk."
        ) from e


def release_save_file(path: Path) -> None:
    save_lock.release(path)


class GameStore:
    """The save file, used from one thread at a time (see `AsyncGameStore` for the server)."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        """Use `GameStore.open`, which checks the file; this only wraps a checked connection."""
        self.path = path
        self.thread_id = threading.get_ident()  # the thread that opened it (the worker, in async)
        self._conn: sqlite3.Connection | None = conn

    @classmethod
    def open(cls, path: Path) -> GameStore:
        """Open the save file at `path`, creating it (and its folders) when absent.

        An existing file is only read until it has passed every check, so a refused file keeps
        its exact bytes.
        """
        path = Path(path)
        if path.is_dir():
            raise StoreError(f"{path} is a directory, not a save file: choose a file path.")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot make {path.parent} ({e}): pick another path.") from e
        if not os.access(path.parent, os.W_OK | os.X_OK):  # SQLite writes its logs beside the file
            raise StoreError(f"{path.parent} is not writable: fix it or pick another path.")
        if path.exists() and not os.access(path, os.R_OK | os.W_OK):
            raise StoreError(f"{path} is not readable and writable: fix its permissions.")
        hold_save_file(path)
        try:
            conn = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as e:
            release_save_file(path)
            raise StoreError(f"cannot open {path} ({e}): check the path and permissions.") from e
        try:
            _prepare(path, conn)
        except BaseException:
            conn.close()
            release_save_file(path)
            raise
        return cls(path, conn)

    def save_many(self, records: Sequence[SaveRecord], now: float) -> None:
        """Save every record in one transaction: all of them are kept, or (on error) none."""
        with self._transaction("save games") as conn:
            for r in records:
                conn.execute(
                    "INSERT INTO games (session_id, updated_at, tick, state) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (session_id) DO UPDATE SET updated_at = excluded.updated_at, "
                    "tick = excluded.tick, state = excluded.state",
                    (r.session_id, now, r.tick, r.state_json),
                )
                if r.new_history:
                    conn.execute("DELETE FROM history WHERE session_id = ?", (r.session_id,))
                if r.chunk is not None:
                    conn.execute(
                        "INSERT INTO history (session_id, first_tick, last_tick, points) "
                        "VALUES (?, ?, ?, ?)",
                        (r.session_id, r.chunk.first_tick, r.chunk.last_tick, r.chunk.points_json),
                    )
                conn.execute(
                    "DELETE FROM history WHERE session_id = ? AND last_tick < ?",
                    (r.session_id, r.keep_from_tick),
                )

    def load(self, session_id: str) -> SavedGame | None:
        """The saved game, or None when there is none under this id."""
        with self._guard("load a game") as conn:
            row = conn.execute(
                "SELECT tick, updated_at, state FROM games WHERE session_id = ?", (session_id,)
            ).fetchone()
            if row is None:
                return None
            chunks = conn.execute(
                "SELECT first_tick, last_tick, points FROM history WHERE session_id = ? "
                "ORDER BY first_tick, rowid",
                (session_id,),
            ).fetchall()
        return SavedGame(
            session_id=session_id,
            tick=int(row[0]),
            updated_at=float(row[1]),
            state_json=str(row[2]),
            history=tuple(HistoryChunk(int(a), int(b), str(p)) for a, b, p in chunks),
        )

    def delete(self, session_id: str) -> None:
        """Forget one game and its history (no error when there is none)."""
        with self._transaction("delete a game") as conn:
            conn.execute("DELETE FROM history WHERE session_id = ?", (session_id,))
            conn.execute("DELETE FROM games WHERE session_id = ?", (session_id,))

    def expire(self, now: float, max_age_s: float) -> int:
        """Delete the games not saved for `max_age_s` seconds before `now`; how many went."""
        cutoff = now - max_age_s
        with self._transaction("expire old games") as conn:
            conn.execute(
                "DELETE FROM history WHERE session_id IN "
                "(SELECT session_id FROM games WHERE updated_at < ?)",
                (cutoff,),
            )
            return conn.execute("DELETE FROM games WHERE updated_at < ?", (cutoff,)).rowcount

    def count(self) -> int:
        """How many games are saved."""
        with self._guard("count games") as conn:
            return int(conn.execute("SELECT count(*) FROM games").fetchone()[0])

    def set_trace(self, callback: Callable[[str], None] | None) -> None:
        """Call `callback` with each SQL statement, on the thread that runs it (tests, debugging)."""
        with self._guard("set a trace") as conn:
            conn.set_trace_callback(callback)

    def close(self) -> None:
        """Close the file; committed saves are already safe, so this only tidies (idempotent)."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.close()
            finally:
                release_save_file(self.path)

    @contextmanager
    def _guard(self, action: str) -> Iterator[sqlite3.Connection]:
        """The open connection, with SQLite errors turned into StoreErrors naming the file."""
        if self._conn is None:
            raise StoreError(f"cannot {action}: the store {self.path} is closed.")
        try:
            yield self._conn
        except sqlite3.Error as e:
            raise StoreError(f"cannot {action} in {self.path} ({e}).") from e

    @contextmanager
    def _transaction(self, action: str) -> Iterator[sqlite3.Connection]:
        """One write transaction, rolled back on any error so a save is whole or absent."""
        with self._guard(action) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")


def _prepare(path: Path, conn: sqlite3.Connection) -> None:
    """Check an existing file (reading only) or create the schema in a new one."""
    fix = "move it aside (keep it: it may hold saved games) or choose another path."
    try:
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")  # before the first read: see above
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{path} was written by a newer Turbofan Tycoon (schema {version}, this one "
                f"reads up to {SCHEMA_VERSION}): run the newer version, or {fix}"
            )
        problems = [str(row[0]) for row in conn.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise StoreError(f"{path} is damaged ({'; '.join(problems[:3])}): {fix}")
        tables = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master")}
        if (version == 0 and tables) or (version and not {"games", "history"} <= tables):
            raise StoreError(
                f"{path} is not a Turbofan Tycoon save file (tables {sorted(tables)}): {fix}"
            )
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        if version == 0:
            conn.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA:  # not executescript, which would commit first
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
    except sqlite3.OperationalError as e:
        raise StoreError(f"cannot use {path} ({e}): check its disk and other programs.") from e
    except sqlite3.DatabaseError as e:
        raise StoreError(f"{path} is not a save file or it is damaged ({e}): {fix}") from e


class AsyncGameStore:
    """A GameStore for asyncio (its methods, awaited): calls run on one worker thread, in order."""

    def __init__(self, store: GameStore, executor: ThreadPoolExecutor) -> None:
        """Use `await AsyncGameStore.open(path)`; `store` must belong to `executor`'s thread."""
        self.store = store
        self._executor = executor
        self._closed = False

    @classmethod
    async def open(cls, path: Path) -> AsyncGameStore:
        """Open (and check) the file on the worker thread, so the event loop never waits on it."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="game-store")
        try:
            store = await asyncio.get_running_loop().run_in_executor(executor, GameStore.open, path)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(store, executor)

    async def _run(self, fn: Callable[..., _T], *args: object) -> _T:
        if self._closed:
            raise StoreError(f"the store {self.store.path} is closed.")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def save_many(self, records: Sequence[SaveRecord], now: float) -> None:
        await self._run(self.store.save_many, records, now)

    async def load(self, session_id: str) -> SavedGame | None:
        return await self._run(self.store.load, session_id)

    async def delete(self, session_id: str) -> None:
        await self._run(self.store.delete, session_id)

    async def expire(self, now: float, max_age_s: float) -> int:
        return await self._run(self.store.expire, now, max_age_s)

    async def count(self) -> int:
        return await self._run(self.store.count)

    async def aclose(self) -> None:
        """Close after the calls already queued have run (idempotent)."""
        if self._closed:
            return
        try:
            await self._run(self.store.close)
        finally:
            self._closed = True
            self._executor.shutdown(wait=False)

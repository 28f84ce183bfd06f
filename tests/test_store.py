"""The save file, on real SQLite files: what is saved comes back, even after a kill -9, and a file
that cannot be used is refused with a clear message and left exactly as it was."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from app.web.store import (
    SCHEMA_VERSION,
    AsyncGameStore,
    GameStore,
    HistoryChunk,
    SavedGame,
    SaveRecord,
    StoreError,
    new_session_id,
    valid_session_id,
)

ROOT = Path(__file__).resolve().parent.parent
SID = "player-one-session-0001"


def _state(tick: int) -> str:
    return json.dumps({"tick": tick, "cash": 1000 + tick})


def _chunk(first: int, last: int) -> HistoryChunk:
    return HistoryChunk(first, last, json.dumps({"tick": list(range(first, last + 1))}))


def _saved(path: Path, sid: str = SID) -> SavedGame | None:
    store = GameStore.open(path)
    try:
        return store.load(sid)
    finally:
        store.close()


def _refused(path: Path) -> str:
    """Open `path`, expecting a StoreError; the file must keep its exact bytes. The message."""
    before = path.read_bytes()
    with pytest.raises(StoreError) as refused:
        GameStore.open(path)
    assert path.read_bytes() == before
    message = str(refused.value)
    assert str(path) in message
    return message


def test_session_ids() -> None:
    sid = new_session_id()
    assert valid_session_id(sid) and sid != new_session_id()
    assert valid_session_id("a" * 16) and valid_session_id("A-z_9" * 12 + "abcd")
    for bad in (
        "a" * 15,
        "a" * 65,
        "has space in it!!",
        "ünïcödé-session-id",
        "../../etc/passwd-x",
    ):
        assert not valid_session_id(bad)
    with pytest.raises(ValueError):
        SaveRecord("short", 1, "{}")
    with pytest.raises(ValueError):
        HistoryChunk(5, 4, "[]")


def test_roundtrip_creates_folders_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "games.db"
    store = GameStore.open(path)
    assert store.load(SID) is None and store.count() == 0
    store.save_many([SaveRecord(SID, 7, _state(7), _chunk(0, 7))], now=123.5)
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.count()

    saved = _saved(path)
    assert saved == SavedGame(SID, 7, 123.5, _state(7), (_chunk(0, 7),))
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_many_sessions_in_one_save(tmp_path: Path) -> None:
    store = GameStore.open(tmp_path / "games.db")
    sids = [new_session_id() for _ in range(50)]
    store.save_many([SaveRecord(s, i, _state(i), _chunk(0, i)) for i, s in enumerate(sids)], 1.0)
    store.save_many([SaveRecord(s, 100 + i, _state(100 + i)) for i, s in enumerate(sids)], 2.0)
    assert store.count() == 50
    for i, s in enumerate(sids):
        saved = store.load(s)
        assert saved is not None
        assert (saved.tick, saved.updated_at, saved.state_json) == (100 + i, 2.0, _state(100 + i))
        assert saved.history == (_chunk(0, i),)
    store.close()


def test_a_failing_record_saves_nothing_of_its_batch(tmp_path: Path) -> None:
    store = GameStore.open(tmp_path / "games.db")
    store.save_many([SaveRecord(SID, 1, _state(1))], now=1.0)
    bad = SaveRecord("second-session-id-0002", 2, object())  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="save games"):
        store.save_many([SaveRecord(SID, 2, _state(2), _chunk(0, 2)), bad], now=2.0)
    saved = store.load(SID)
    assert saved is not None and (saved.tick, saved.history) == (1, ())
    assert store.count() == 1
    store.save_many([SaveRecord(SID, 3, _state(3))], now=3.0)  # the store still works
    store.close()


def test_history_is_appended_in_tick_order_and_pruned(tmp_path: Path) -> None:
    store = GameStore.open(tmp_path / "games.db")
    for first in range(0, 100, 10):
        store.save_many(
            [SaveRecord(SID, first + 9, _state(first + 9), _chunk(first, first + 9))], 1
        )
    saved = store.load(SID)
    assert saved is not None
    assert saved.history == tuple(_chunk(f, f + 9) for f in range(0, 100, 10))

    # Keep from tick 45: chunks ending before it go; the chunk 40..49 holding it stays.
    store.save_many([SaveRecord(SID, 105, _state(105), _chunk(100, 105), keep_from_tick=45)], 2)
    saved = store.load(SID)
    assert saved is not None
    assert [c.first_tick for c in saved.history] == [40, 50, 60, 70, 80, 90, 100]
    # Pruning happens on a save without new points too, and only for that session.
    other = "other-session-id-0002"
    store.save_many([SaveRecord(other, 9, _state(9), _chunk(0, 9))], 3)
    store.save_many([SaveRecord(SID, 105, _state(105), keep_from_tick=100)], 3)
    assert [c.first_tick for c in store.load(SID).history] == [100]  # type: ignore[union-attr]
    assert [c.first_tick for c in store.load(other).history] == [0]  # type: ignore[union-attr]
    store.close()


def test_expire_removes_old_games_only(tmp_path: Path) -> None:
    store = GameStore.open(tmp_path / "games.db")
    old, fresh = "old-session-id-000001", "fresh-session-id-0001"
    store.save_many([SaveRecord(old, 5, _state(5), _chunk(0, 5))], now=1_000.0)
    store.save_many([SaveRecord(fresh, 5, _state(5), _chunk(0, 5))], now=5_000.0)
    assert store.expire(now=5_500.0, max_age_s=4_600.0) == 0
    assert store.expire(now=5_500.0, max_age_s=3_600.0) == 1
    assert store.load(old) is None and store.load(fresh) is not None and store.count() == 1
    store.delete(fresh)
    store.delete(fresh)  # deleting what is not there is fine
    assert store.count() == 0
    store.close()
    conn = sqlite3.connect(tmp_path / "games.db")
    assert conn.execute("SELECT count(*) FROM history").fetchone()[0] == 0  # no orphan chunks
    conn.close()


def test_random_bytes_are_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "games.db"
    path.write_bytes(random.Random(0).randbytes(8192))
    message = _refused(path)
    assert "not a save file or it is damaged" in message and "move it aside" in message


def test_a_truncated_save_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "games.db"
    store = GameStore.open(path)
    big = json.dumps({"engines": ["x" * 500] * 20})
    store.save_many([SaveRecord(new_session_id(), 1, big, _chunk(0, 1)) for _ in range(100)], 1)
    store.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert "damaged" in _refused(path)


def test_a_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "games.db"
    store = GameStore.open(path)
    store.save_many([SaveRecord(SID, 1, _state(1))], now=1.0)
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    message = _refused(path)
    assert (
        f"written by a newer Turbofan Tycoon (schema 99, this one reads up to {SCHEMA_VERSION})"
        in message
    )


def test_another_programs_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.execute("INSERT INTO notes VALUES ('keep me')")
    conn.commit()
    conn.close()
    assert "not a Turbofan Tycoon save file" in _refused(path)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a directory"):
        GameStore.open(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="pick another path"):
        GameStore.open(blocker / "games.db")
    assert blocker.read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to any folder")
def test_a_read_only_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(StoreError, match="not writable"):
            GameStore.open(folder / "games.db")
    finally:
        folder.chmod(0o700)


CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from app.web.store import GameStore, HistoryChunk, SaveRecord
    store = GameStore.open(Path(sys.argv[1]))
    store.save_many([SaveRecord(sys.argv[2], 42, '{"tick": 42}', HistoryChunk(0, 42, "[0]"))], 9.0)
    if sys.argv[3] == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    os._exit(0)
    """
)


@pytest.mark.parametrize("death", ["sigkill", "exit"])
def test_a_save_survives_a_killed_process(tmp_path: Path, death: str) -> None:
    path = tmp_path / "games.db"
    GameStore.open(path).close()  # an existing file, as after an earlier server run
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), SID, death],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == (-signal.SIGKILL if death == "sigkill" else 0), done.stderr
    assert Path(f"{path}-wal").stat().st_size > 0  # the save lies in the log nobody closed
    saved = _saved(path)
    assert saved is not None
    assert (saved.tick, saved.state_json, saved.history) == (
        42,
        '{"tick": 42}',
        (HistoryChunk(0, 42, "[0]"),),
    )


def test_the_async_store_never_runs_sqlite_on_the_event_loop(tmp_path: Path) -> None:
    threads: set[int] = set()

    async def play() -> tuple[int, AsyncGameStore]:
        store = await AsyncGameStore.open(tmp_path / "games.db")
        store.store.set_trace(lambda _sql: threads.add(threading.get_ident()))
        sids = [new_session_id() for _ in range(20)]
        await asyncio.gather(
            *(
                store.save_many([SaveRecord(s, i, _state(i), _chunk(0, i))], 10.0)
                for i, s in enumerate(sids)
            )
        )
        assert await store.count() == 20
        saved = await store.load(sids[3])
        assert saved is not None and saved.tick == 3 and saved.history == (_chunk(0, 3),)
        await store.delete(sids[3])
        assert await store.load(sids[3]) is None
        assert await store.expire(now=100.0, max_age_s=10.0) == 19
        await store.aclose()
        await store.aclose()
        with pytest.raises(StoreError, match="closed"):
            await store.count()
        return threading.get_ident(), store

    loop_thread, store = asyncio.run(play())
    assert store.store.thread_id != loop_thread  # opened on the worker
    assert threads == {store.store.thread_id}  # and every statement ran there


def test_the_async_store_reports_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "games.db"
    path.write_bytes(b"definitely not sqlite" * 100)
    with pytest.raises(StoreError, match="damaged"):
        asyncio.run(AsyncGameStore.open(path))

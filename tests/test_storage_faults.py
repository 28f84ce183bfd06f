"""Storage faults are told (issue 20): a full disk, a save file that cannot be written, a second
server on the same file. Real servers on loopback, real websockets, real SQLite files, real faults:
a small tmpfs filled to the last byte (needs `mount`, so root: CI runs as root), `chattr +i` (on a
file system that enforces it), a file size limit set on a running `tycoon serve` (anywhere).
A fault that this machine cannot make is a skip that says why, never a pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import resource
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from servers import play, running_server
from test_persistence import (
    GUARD_S,
    START_S,
    Frame,
    free_port,
    open_game,
    tycoon_command,
    tycoon_serve,
    visit,
    within,
)

from app.web.client import GameClient

INTERVAL_S = 0.2  # the save interval of these servers: faults show within a fraction of a second
RUN = {"type": "set_speed", "ticks_per_second": 20.0}
NOT_SAVED = "is not being saved"  # the log line of a game's failure episode
SAVED_AGAIN = "is saved again"


def not_saved(frame: Frame) -> bool:
    return frame["type"] == "error" and frame.get("code") == "not_saved"


def saved_again(frame: Frame) -> bool:
    return frame["type"] == "notice" and frame.get("code") == "saved"


async def frames_for(client: GameClient, seconds: float) -> list[Frame]:
    """Every frame `client` gets in the next `seconds` (it plays along: acks, state)."""
    loop = asyncio.get_running_loop()
    end, frames = loop.time() + seconds, []
    while (left := end - loop.time()) > 0:
        try:
            frames.append(await asyncio.wait_for(client.recv(), left))
        except TimeoutError:
            break
    return frames


async def frames_until(client: GameClient, accept: Callable[[Frame], bool]) -> list[Frame]:
    """Every frame `client` gets up to and with the first accepted one (bounded wait)."""
    frames: list[Frame] = []
    while not frames or not accept(frames[-1]):
        frames.append(await within(client.recv()))
    return frames


def log_lines(caplog: pytest.LogCaptureFixture, words: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if words in r.getMessage()]


# ---------------------------------------------------------------- a full disk (#6)


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A fresh tmpfs of `size` at `where`, unmounted on the way out; a skip when none can be
    mounted here (mounting needs root)."""
    where.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except FileNotFoundError:
        pytest.skip("no `mount` command here: cannot make a small disk to fill")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(disk: Path) -> Path:
    """Take every last byte of `disk` with one file (deleting it frees them again)."""
    filler = disk / "filler"
    with filler.open("ab", buffering=0) as f:
        for size in (1 << 20, 1 << 16, 1 << 12, 1):
            with contextlib.suppress(OSError):
                while f.write(b"\0" * size):
                    pass
    with pytest.raises(OSError) as full, filler.open("ab", buffering=0) as f:
        f.write(b"\0")
    assert full.value.errno == errno.ENOSPC
    return filler


def test_a_full_disk_is_told_once_retried_and_a_restart_says_what_was_lost(
    game_models: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tycoon.games")
    with tmpfs(tmp_path / "disk", "8m") as disk:
        database = disk / "games.sqlite3"
        ticks: dict[str, int] = {}

        async def first_run(base: str) -> tuple[str, str]:
            a, _ = await open_game(base)
            b, _ = await open_game(base)
            for client in (a, b):
                await within(client.command(RUN))
            await asyncio.gather(frames_for(a, 4 * INTERVAL_S), frames_for(b, 4 * INTERVAL_S))

            filler = fill(disk)  # saves fail from now on: each player hears it once
            seen = await asyncio.gather(
                frames_for(a, 8 * INTERVAL_S), frames_for(b, 8 * INTERVAL_S)
            )
            for frames in seen:
                errors = [f for f in frames if f["type"] == "error"]
                assert len(errors) == 1 and not_saved(errors[0]), errors
                assert "not being saved: disk full" in errors[0]["message"]
            # A tab that opens the failing game is told too, after its snapshot.
            c, snapshot = await open_game(base, a.session_id)
            assert snapshot["resumed"] is True
            assert not_saved((await frames_until(c, lambda f: f["type"] != "delta"))[-1])

            filler.unlink()  # room again: the next save works, and says so once
            for client in (a, b, c):
                frames = await frames_until(client, lambda f: f["type"] != "delta")
                assert saved_again(frames[-1]), frames[-1]
            seen = await asyncio.gather(
                frames_for(a, 4 * INTERVAL_S), frames_for(b, 4 * INTERVAL_S)
            )
            assert [f for frames in seen for f in frames if f["type"] != "delta"] == []
            await c.close()
            assert len(log_lines(caplog, NOT_SAVED)) == 2  # one per game, not one per second
            assert len(log_lines(caplog, SAVED_AGAIN)) == 2

            fill(disk)  # a second episode, and a game that is never saved at all
            d, _ = await open_game(base)
            for client in (a, b, d):
                frames = await frames_until(client, lambda f: f["type"] != "delta")
                assert not_saved(frames[-1]), frames[-1]
            for client in (a, b, d):
                assert client.state is not None and client.session_id is not None
                ticks[client.session_id] = client.state["tick"]
                await client.close()
            # A game that cannot be saved stays in memory when its tab closes: a reload has it.
            back = await visit(base, b.session_id)
            assert back["resumed"] is True and back["state"]["tick"] >= ticks[b.session_id] > 0
            assert a.session_id is not None and d.session_id is not None
            return a.session_id, d.session_id

        with running_server(game_models, database=database, save_interval_s=INTERVAL_S) as base:
            a_id, d_id = play(lambda: first_run(base))
        assert len(log_lines(caplog, NOT_SAVED)) == 5
        lost = log_lines(caplog, "could not be saved before stopping")
        assert len(lost) == 1 and "3 games" in lost[0] and "disk full" in lost[0], lost
        assert all(sid not in r.getMessage() for r in caplog.records for sid in ticks)

        async def second_run(base: str) -> tuple[Frame, Frame]:
            return await visit(base, d_id), await visit(base, a_id)

        # The disk is still full: the server starts, and says what became of each game.
        with running_server(game_models, database=database, save_interval_s=INTERVAL_S) as base:
            never, older = play(lambda: second_run(base))
    assert never["resumed"] is False and never["session_id"] != d_id
    assert never["notice"] == (
        "Your game could not be saved (disk full) and was lost, so a new game was started."
    )
    assert older["resumed"] is True and older["session_id"] == a_id
    assert 0 < older["state"]["tick"] < ticks[a_id]
    assert older["notice"].startswith("Your latest moves could not be saved (disk full)")
    assert f"at tick {older['state']['tick']}" in older["notice"]


# ---------------------------------------------------------------- a save file made unwritable (#13)


def chattr(flag: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True, text=True)


def why_chattr_cannot_fail_a_save(folder: Path) -> str | None:
    """None when `chattr +i` stops writes through a file already open here (as the server's
    are); else why not, for the skip."""
    probe = folder / "probe"
    with probe.open("wb", buffering=0) as f:
        f.write(b"x")
        try:
            done = chattr("+i", probe)
        except FileNotFoundError:
            return "no `chattr` command here"
        if done.returncode != 0:
            return f"chattr +i is refused here: {done.stderr.strip()}"
        try:
            f.write(b"y")
        except OSError:
            return None
        finally:
            chattr("-i", probe)
            probe.unlink()
    return "this file system lets open files be written after chattr +i (tmpfs does)"


def test_a_save_file_made_unwritable_is_told_and_never_kills_the_server(
    game_models: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "saves"
    folder.mkdir()
    reason = why_chattr_cannot_fail_a_save(folder)
    if reason is not None:
        pytest.skip(reason)
    database = folder / "games.sqlite3"
    wal = folder / "games.sqlite3-wal"

    async def scenario(base: str) -> None:
        client, _ = await open_game(base)
        await within(client.command(RUN))
        await frames_for(client, 4 * INTERVAL_S)
        # No -shm: SQLite keeps its WAL index in memory, so no mapped file can turn an
        # unwritable disk into SIGBUS (the server died that way, without a word).
        assert sorted(p.name for p in folder.iterdir()) == [
            "games.sqlite3",
            "games.sqlite3-wal",
            "games.sqlite3.lock",
            "games.sqlite3.unsaved",
        ]
        assert chattr("+i", database, wal).returncode == 0
        try:
            frames = await frames_until(client, lambda f: f["type"] != "delta")
            assert not_saved(frames[-1]), frames[-1]
            assert "not being saved: permission denied" in frames[-1]["message"]
            later = await frames_for(client, 8 * INTERVAL_S)
            assert [f for f in later if f["type"] != "delta"] == []  # told once
            assert client.state is not None and client.state["running"] is True
        finally:
            chattr("-i", database, wal)
        frames = await frames_until(client, lambda f: f["type"] != "delta")
        assert saved_again(frames[-1]), frames[-1]
        await client.close()

    try:
        with running_server(game_models, database=database, save_interval_s=INTERVAL_S) as base:
            play(lambda: scenario(base))
    finally:
        chattr("-i", database, wal)  # whatever happened: pytest must be able to delete them


# ---------------------------------------------------------------- one server per save file (#14)


def test_a_second_server_on_the_same_save_file_is_refused_and_a_size_limit_is_told(
    game_models: Any, game_artifacts_dir: Path, tmp_path: Path
) -> None:
    database = tmp_path / "games.sqlite3"
    lock = tmp_path / "games.sqlite3.lock"
    interval = {"TYCOON_SAVE_INTERVAL_S": str(INTERVAL_S)}
    with tycoon_serve(game_artifacts_dir, database, **interval) as first:
        env = {**os.environ, "TYCOON_DATABASE": str(database), "COLUMNS": "1000"}
        command = tycoon_command(game_artifacts_dir, free_port())
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=START_S)
        assert lock.read_text().split() == [str(first.proc.pid), "tycoon", "serve"]

        # Without a disk to fill: the file size limit (ulimit -f) of the running server.
        async def scenario() -> None:
            client, _ = await open_game(first.base)
            await within(client.command(RUN))
            await frames_for(client, 4 * INTERVAL_S)
            _, hard = resource.prlimit(first.proc.pid, resource.RLIMIT_FSIZE)
            size = max(database.stat().st_size, Path(f"{database}-wal").stat().st_size)
            resource.prlimit(first.proc.pid, resource.RLIMIT_FSIZE, (size, hard))
            try:
                frames = await frames_until(client, lambda f: f["type"] != "delta")
                assert not_saved(frames[-1]), frames[-1]
                assert f"the file size limit (ulimit -f, {size} bytes)" in frames[-1]["message"]
                later = await frames_for(client, 8 * INTERVAL_S)
                assert [f for f in later if f["type"] != "delta"] == []
            finally:
                resource.prlimit(first.proc.pid, resource.RLIMIT_FSIZE, (hard, hard))
            frames = await frames_until(client, lambda f: f["type"] != "delta")
            assert saved_again(frames[-1]), frames[-1]
            await client.close()

        play(scenario)
        first.proc.send_signal(signal.SIGINT)
        first.proc.wait(timeout=GUARD_S)
        log = first.output()

    assert second.returncode != 0
    assert "Traceback" not in second.stderr + second.stdout
    lines = [line for line in second.stderr.splitlines() if line.strip()]
    assert lines == [
        f"error: the save file {database} is in use by process {first.proc.pid} (tycoon serve): "
        "stop it, or give this server another file (tycoon serve --database PATH, or "
        "TYCOON_DATABASE)."
    ], second.stderr
    assert "Traceback" not in log, log
    assert log.count(NOT_SAVED) == 1 and log.count(SAVED_AGAIN) == 1, log
    assert not lock.exists()  # a clean stop lets the file go

"""One server per save file: a lock on `<database>.lock` that names the process holding it.

Why: two servers on one file each kept their games in memory and wrote them back in turn, so the
last writer silently replaced the other's saves. SQLite's own locks cannot tell who holds them
(a second server would wait and then read "database is locked"), so every process that uses a
save file first takes an exclusive `flock` on a small file beside it, holding its PID and command:
a second server is refused at once, with a line that names the first one.

The kernel drops the lock when its process ends, even by kill -9, so a file left behind never
blocks a restart; a clean exit deletes it. Holds are counted per process because two flocks of
one process on one file would refuse each other: `tycoon serve` holds the file for its whole run
and its store takes it again while open.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

_ATTEMPTS = 5  # the lock file replaced under us (its holder exiting) this often: give up


class SaveFileInUse(RuntimeError):
    """Another process holds the save file; the message says which and what to do."""


@dataclass
class _Hold:
    fd: int
    count: int


_held: dict[Path, _Hold] = {}
_guard = threading.Lock()


def lock_path(database: Path) -> Path:
    """The lock file of `database` (beside its real location, so two links share one lock)."""
    real = Path(database).resolve()
    return real.with_name(real.name + ".lock")


def acquire(database: Path) -> None:
    """Hold `database` for this process (again); `SaveFileInUse` when another process holds it,
    OSError when the lock file cannot be made."""
    path = lock_path(database)
    with _guard:
        hold = _held.get(path)
        if hold is not None:
            hold.count += 1
            return
        _held[path] = _Hold(_take(path, database), 1)


def release(database: Path) -> None:
    """Give back one hold; the last one deletes the lock file (while still locked) and unlocks."""
    path = lock_path(database)
    with _guard:
        hold = _held.get(path)
        if hold is None:
            return
        hold.count -= 1
        if hold.count > 0:
            return
        del _held[path]
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(hold.fd)


def _take(path: Path, database: Path) -> int:
    for _ in range(_ATTEMPTS):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise SaveFileInUse(
                f"the save file {database} is in use by {holder}: stop it, or give this server "
                "another file (tycoon serve --database PATH, or TYCOON_DATABASE)."
            ) from None
        except OSError:
            os.close(fd)
            raise
        # The holder may have deleted the file between our open and our lock: then we locked a
        # file nobody else will find, so open the path again.
        try:
            here, there = os.fstat(fd), os.stat(path)
            same = (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)
        except FileNotFoundError:
            same = False
        if same:
            _write_holder(fd)
            return fd
        os.close(fd)
    raise SaveFileInUse(f"the save file {database} could not be locked: {path} kept changing.")


def _write_holder(fd: int) -> None:
    # Best effort: on a full disk the lock still holds, and a refusal says "another process".
    command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:2]]) if sys.argv else "python"
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {command}\n".encode(), 0)


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 300, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    pid, _, command = text.partition(" ")
    if not pid.isdigit():
        return "another process"
    return f"process {pid} ({command})" if command else f"process {pid}"

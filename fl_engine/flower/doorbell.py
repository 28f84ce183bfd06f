"""Wake-ups between this project's Flower processes on one machine, so that they need not poll.

Flower's deployment runtime is all polling over HTTP: the SuperNode pulls the SuperLink for
messages, our executor asks its SuperNode for tasks, the ServerApp pulls the SuperLink for
replies. Each empty poll costs the SuperLink ~4-5 ms of CPU (measured: its FastAPI stack per
request), so on 2 cores 17 processes polling often enough for a fast round ate the CPU the
round needed, and polling rarely made the round wait. A doorbell removes the trade on one
machine: whoever hands work on rings, whoever waits for it naps until rung (or until its
fallback poll is due, so a lost ring costs latency, never correctness).

A doorbell is a folder of named pipes (FIFOs), one per listener (``<folder>/<pid>``). A listener
opens its pipe read-write and non-blocking (so it never sees end-of-file) and waits with
``select``; ringing writes one byte to every pipe in the folder (a full pipe is already rung; a
pipe nobody holds open, ``ENXIO``, belongs to a dead listener and is removed). No signals: any
thread may wait, and a reused pid can never be hit.

Enabled only where ``TYCOON_DOORBELL`` names a folder (`fl_engine.flower.cluster.LocalCluster`
sets it for every process it starts); elsewhere (``tycoon federate``, separate machines)
everything polls as before. Bells: ``supernodes`` (the ServerApp pushed messages),
``serverapps`` (a SuperNode pushed a reply), and one per SuperNode under its ``FLWR_HOME``
(the SuperNode stored a message: its executor has a task).
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import time
from pathlib import Path

ENV = "TYCOON_DOORBELL"
SUPERNODES = "supernodes"
SERVERAPPS = "serverapps"


class Doorbell:
    """One bell: `ring()` from any process; `listen()` then `wait()` in the one that naps."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.fd: int | None = None
        self.path: Path | None = None

    @classmethod
    def named(cls, name: str) -> Doorbell | None:
        """The bell ``name`` of this deployment; None where doorbells are off."""
        root = os.environ.get(ENV, "")
        return cls(Path(root) / name) if root and hasattr(os, "mkfifo") else None

    @classmethod
    def executor(cls) -> Doorbell | None:
        """The bell of this SuperNode's executor (they share ``FLWR_HOME``)."""
        home = os.environ.get("FLWR_HOME", "")
        if not (home and os.environ.get(ENV) and hasattr(os, "mkfifo")):
            return None
        return cls(Path(home) / ".tycoon-executor-bell")

    def listen(self) -> Doorbell:
        """Start listening: from now on a ring wakes `wait`."""
        if self.fd is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / str(os.getpid())
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            os.mkfifo(path, 0o600)
            self.fd, self.path = os.open(path, os.O_RDWR | os.O_NONBLOCK), path
        return self

    def wait(self, timeout_s: float) -> bool:
        """Nap until rung or ``timeout_s`` passed; whether it was rung."""
        if self.fd is None:
            time.sleep(max(0.0, timeout_s))
            return False
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout_s))
        if not ready:
            return False
        with contextlib.suppress(BlockingIOError):
            while os.read(self.fd, 4096):
                pass
        return True

    def ring(self) -> int:
        """Wake every listener (not this process); how many were rung."""
        rung = 0
        try:
            entries = list(self.folder.iterdir())
        except FileNotFoundError:
            return 0
        for entry in entries:
            if entry == self.path:
                continue
            try:
                fd = os.open(entry, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as err:
                if err.errno == errno.ENXIO:  # nobody holds it open: its listener is gone
                    with contextlib.suppress(OSError):
                        entry.unlink()
                continue
            try:
                os.write(fd, b"!")
                rung += 1
            except BlockingIOError:  # full: rung already
                rung += 1
            except OSError:
                pass
            finally:
                os.close(fd)
        return rung

    def close(self) -> None:
        """Stop listening and remove this listener's pipe."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            self.path = None

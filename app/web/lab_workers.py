"""The lab's worker threads: the blocking work (building a run, playing a round, predicting for a
deployment) runs here, so the event loop and the games never wait for torch.

The threads are daemons, started on demand (at most `n`): a stopping server never waits for one
at interpreter exit (`concurrent.futures` joins its threads there, however long a round takes).
A call that is cancelled (the socket closed) still waits for its thread when it has started, which
the run's cancel flag frees within seconds (`LabRunLike.cancel`): no thread is left training for
a run nobody watches; a call cancelled before its thread took it never runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class _Job:
    """One call for a worker thread, and where its outcome goes."""

    def __init__(self, fn: Callable[[], Any], loop: asyncio.AbstractEventLoop) -> None:
        self.fn = fn
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()
        self.state = "queued"  # -> "running" | "dropped" (cancelled before it started)


class LabWorkers:
    """`n` daemon threads for the lab's blocking calls, counting those at work."""

    def __init__(self, n: int, setup: Callable[[], None] | None = None) -> None:
        self._n = n
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._setup = setup
        self._lock = threading.Lock()
        self.busy = 0  # calls running in a worker thread right now

    async def call(self, fn: Callable[[], T]) -> T:
        """`fn()` in a worker thread; if cancelled meanwhile, wait for it (unless it has not
        started: then it never runs), then re-raise."""
        job = _Job(fn, asyncio.get_running_loop())
        with self._lock:
            if len(self._threads) < self._n:  # started on demand, at most n
                thread = threading.Thread(
                    target=self._work, name=f"tycoon-lab-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
        self._jobs.put(job)
        try:
            result: T = await asyncio.shield(job.future)
            return result
        except asyncio.CancelledError:
            with self._lock:
                if job.state == "queued":
                    job.state = "dropped"
            if job.state == "running":  # the run's cancel flag ends it within seconds
                await asyncio.wait([job.future])
                if not job.future.cancelled():
                    job.future.exception()  # retrieved: the caller is gone
            raise

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            with self._lock:
                if job.state == "dropped":
                    continue
                job.state = "running"
                self.busy += 1
            outcome: tuple[bool, Any]
            try:
                if self._setup is not None:
                    self._setup()
                outcome = (True, job.fn())
            except BaseException as exc:  # handed to the caller, whatever it is
                outcome = (False, exc)
            finally:
                with self._lock:
                    self.busy -= 1
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                job.loop.call_soon_threadsafe(_settle, job.future, outcome)

    def shutdown(self, wait_s: float = 0.0) -> bool:
        """Let the threads go once idle; wait up to `wait_s` for the busy ones. True if none is
        busy any more (a thread still busy is a daemon: it never holds the interpreter)."""
        for _ in self._threads:
            self._jobs.put(None)
        give_up = time.monotonic() + wait_s
        while self.busy and time.monotonic() < give_up:
            time.sleep(0.05)
        return self.busy == 0


def _settle(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if future.done():
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)

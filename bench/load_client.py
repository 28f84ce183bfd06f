"""The client side of the load benchmark (`bench/load.py`): dashboards in worker processes.

`measure` starts the worker processes, opens the measured window and times new connections during
it; `summarize` turns what the dashboards saw into the benchmark's numbers. Each dashboard is an
`app.web.client.GameClient`, so it does what the page does with every frame (parse, apply the
delta, acknowledge) and its cost is the cost of a real client. A client worker
runs in its own process (never the server's), so the server is measured under a load it cannot
shortcut; the worker measures its own CPU, since a saturated client would look like a slow server.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from app.web.client import GameClient

Json = dict[str, Any]

# Connections opened at once by one worker: enough to connect 200 quickly, few enough that the
# server's accept loop does not time anyone out.
_CONNECT_AT_ONCE = 20


@dataclass
class Trace:
    """What one dashboard saw: every frame's arrival (time.monotonic), the game's tick, its size."""

    arrivals: list[float] = field(default_factory=list)
    ticks: list[int] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    resumes: int = 0  # the season ended and the dashboard pressed "keep playing"
    errors: list[str] = field(default_factory=list)

    def window(self, start: float, end: float) -> Trace:
        """The frames that arrived in [start, end)."""
        keep = [k for k, t in enumerate(self.arrivals) if start <= t < end]
        return Trace(
            [self.arrivals[k] for k in keep],
            [self.ticks[k] for k in keep],
            [self.sizes[k] for k in keep],
            self.resumes,
            self.errors,
        )


async def _dashboard(
    base: str, speed: float, ready: asyncio.Event, stop: list[float], trace: Trace
) -> None:
    """Connect, set the speed, then read and acknowledge frames until `stop[0]` has passed.

    The trace is the caller's, so a dashboard cancelled while it waits for a frame keeps it.
    """
    client = await GameClient.connect(base)
    try:
        await client.recv()  # the snapshot
        await client.send({"type": "set_speed", "ticks_per_second": float(speed)})
        ready.set()
        while time.monotonic() < stop[0]:
            before = client.bytes
            frame = await client.recv()
            now = time.monotonic()
            if frame["type"] == "error":
                trace.errors.append(frame["message"])
                continue
            assert client.state is not None
            trace.arrivals.append(now)
            trace.ticks.append(int(client.state["tick"]))
            trace.sizes.append(client.bytes - before)
            if not client.state["running"]:
                trace.resumes += 1
                await client.send({"type": "resume"})
    finally:
        await client.close()


async def _connect_all(
    base: str, n: int, speed: float, stop: list[float], traces: list[Trace]
) -> list[asyncio.Task[None]]:
    """Start `n` dashboards, a few connections at a time, and wait until all of them play."""
    tasks: list[asyncio.Task[None]] = []
    for first in range(0, n, _CONNECT_AT_ONCE):
        events = [asyncio.Event() for _ in range(first, min(n, first + _CONNECT_AT_ONCE))]
        batch = []
        for event in events:
            traces.append(Trace())
            batch.append(asyncio.create_task(_dashboard(base, speed, event, stop, traces[-1])))
        tasks += batch
        give_up = time.monotonic() + 60
        while not all(e.is_set() for e in events):
            ended = [t for t in batch if t.done()]  # a dashboard that ends before it plays failed
            if ended or time.monotonic() > give_up:
                for t in tasks:
                    t.cancel()
                reason = ended[0].exception() if ended else "no snapshot within 60 s"
                raise RuntimeError(f"a dashboard could not connect: {reason!r}")
            await asyncio.sleep(0.01)
    return tasks


async def _worker(base: str, n: int, speed: float, pipe: Connection) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    stop = [float("inf")]
    traces: list[Trace] = []
    tasks = await _connect_all(base, n, speed, stop, traces)
    pipe.send("ready")
    start, end = await loop.run_in_executor(None, pipe.recv)  # the window, from the parent
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    cpu_before, wall_before = time.process_time(), time.monotonic()
    await asyncio.sleep(max(0.0, end - time.monotonic()))
    cpu = time.process_time() - cpu_before
    wall = time.monotonic() - wall_before
    stop[0] = end
    # a dashboard whose game sends nothing more would wait for ever: give them a moment, then go
    _, pending = await asyncio.wait(tasks, timeout=5)
    for t in pending:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    failed = [t.exception() for t in tasks if not t.cancelled() and t.exception() is not None]
    return {
        "traces": [t.window(start, end) for t in traces],
        "cpu_percent": 100.0 * cpu / max(wall, 1e-9),
        "failed": [repr(e) for e in failed],
    }


def worker_main(base: str, n: int, speed: float, pipe: Connection) -> None:
    """Process entry point: play `n` dashboards, hand back their traces over `pipe`.

    Protocol with the parent: send "ready" once every dashboard plays; receive the measured
    window (start, end) in time.monotonic (one clock for every process on the machine); send the
    result, or ("error", text) if anything failed.
    """
    try:
        pipe.send(asyncio.run(_worker(base, n, speed, pipe)))
    except BaseException as exc:
        with contextlib.suppress(OSError):  # the parent may be gone already (Ctrl-C)
            pipe.send(("error", f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        pipe.close()


async def first_frame_s(base: str) -> float:
    """Seconds from opening a new connection to holding its snapshot (what a new player waits)."""
    start = time.monotonic()
    client = await GameClient.connect(base)
    try:
        frame = await client.recv()
        if frame["type"] != "snapshot":
            raise RuntimeError(f"a new connection got {frame['type']!r} first: {frame}")
        return time.monotonic() - start
    finally:
        await client.close()


def _receive(pipe: Any, timeout_s: float, what: str) -> Any:
    if not pipe.poll(timeout_s):
        raise RuntimeError(f"a client process sent no {what} within {timeout_s:.0f} s")
    message = pipe.recv()
    if isinstance(message, tuple) and message[:1] == ("error",):
        raise RuntimeError(f"a client process failed: {message[1]}")
    return message


async def _probe(base: str, count: int, start: float, end: float) -> list[float]:
    """Open `count` new connections one by one, spread over [start, end): first-frame times."""
    waits = []
    for k in range(count):
        await asyncio.sleep(max(0.0, start + (k + 0.5) * (end - start) / count - time.monotonic()))
        waits.append(await first_frame_s(base))
    return waits


def measure(
    base: str,
    clients: int,
    speed: float,
    seconds: float,
    warmup: float,
    procs: int,
    probes: int,
    on_window: Callable[[], Callable[[], None]],
) -> tuple[list[Trace], list[float], list[float], float, int]:
    """Play the load from `procs` processes: the window's traces, client CPU %s, first-frame
    times, the window's length and how many dashboards failed on the way.

    `on_window()` is called when the measured window opens; what it returns, when it closes.
    """
    ctx = mp.get_context("spawn")  # a fresh interpreter: nothing of the parent's state leaks in
    shares = [clients // procs + (k < clients % procs) for k in range(procs)]
    pipes, workers = [], []
    try:
        for share in shares:
            ours, theirs = ctx.Pipe()
            worker = ctx.Process(target=worker_main, args=(base, share, speed, theirs), daemon=True)
            worker.start()
            pipes.append(ours)
            workers.append(worker)
        for pipe in pipes:
            _receive(pipe, 180, "ready signal")
        start = time.monotonic() + warmup
        end = start + seconds
        for pipe in pipes:
            pipe.send((start, end))
        time.sleep(max(0.0, start - time.monotonic()))
        window_ends = on_window()
        waits = asyncio.run(_probe(base, probes, start, end)) if probes else []
        time.sleep(max(0.0, end - time.monotonic()))
        window_ends()
        results = [_receive(pipe, 60, "result") for pipe in pipes]
        for worker in workers:
            worker.join(timeout=10)
        failed = [f for r in results for f in r["failed"]]
        if failed:
            print(
                f"warning: {len(failed)} dashboards failed during the run: {failed[0]}",
                file=sys.stderr,
            )
        traces = [t for r in results for t in r["traces"]]
        return traces, [r["cpu_percent"] for r in results], waits, end - start, len(failed)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
                worker.join(timeout=5)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def summarize(traces: list[Trace], speed: float, window_s: float) -> Json:
    """Per-game tick rates, frame gaps over every dashboard, bytes per client."""
    rates, gaps, byte_rates, frame_rates = [], [], [], []
    for t in traces:
        span = t.arrivals[-1] - t.arrivals[0] if len(t.arrivals) > 1 else 0.0
        rates.append((t.ticks[-1] - t.ticks[0]) / span if span > 0 else 0.0)
        gaps += [b - a for a, b in zip(t.arrivals, t.arrivals[1:], strict=False)]
        byte_rates.append(sum(t.sizes) / window_s)
        frame_rates.append(len(t.arrivals) / window_s)
    within = [abs(r - speed) <= 0.05 * speed for r in rates]
    return {
        "games": len(traces),
        "ticks_per_s": {
            "min": min(rates),
            "median": statistics.median(rates),
            "max": max(rates),
            "fraction_within_5pct": sum(within) / len(within),
        },
        "frames_per_s_per_client_median": statistics.median(frame_rates),
        "frame_gap_ms": {
            "p50": 1e3 * percentile(gaps, 0.5),
            "p99": 1e3 * percentile(gaps, 0.99),
            "max": 1e3 * max(gaps, default=0.0),
        },
        "bytes_per_s_per_client": {
            "median": statistics.median(byte_rates),
            "max": max(byte_rates),
        },
        "total_bytes": sum(sum(t.sizes) for t in traces),
        "season_resumes": sum(t.resumes for t in traces),
        "error_frames": sum(len(t.errors) for t in traces),
    }

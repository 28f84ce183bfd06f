"""Load benchmark of the game server: many dashboards at full speed against a real `tycoon serve`.

Run by hand (the test suite runs only a tiny dry run and asserts no timings):

    .venv/bin/python -m bench.load --clients 200 --speed 50 --seconds 30 [--publish]

The server runs as its own process, as a player would start it, on a free loopback port with its
own temporary save file (your saved games are never touched) and a connection cap raised above
the client count. The dashboards run in `--procs` other processes (`bench/load_client.py`), so the
server's CPU is its own and the clients' CPU is reported beside it: on a 2-core machine they
compete, and a saturated client would otherwise look like a slow server. After a warm-up, for
`--seconds` it measures every game's ticks per second, the gaps between a dashboard's frames,
bytes per client, the server's memory and CPU, and how long new players wait for their first frame
while the load runs. Results go to runs/bench/load.json; `--publish` also writes the README's
bench/results/load.json, only with the README's settings and on a quiet machine (load < 1.5).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import psutil  # type: ignore[import-untyped]
import typer
from rich.console import Console
from rich.table import Table

from bench.load_client import measure, percentile, summarize

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SCRATCH = ROOT / "runs" / "bench"
README_SETTINGS = {"clients": 200, "speed": 50.0, "seconds": 30.0}
QUIET_LOAD = 1.5  # 1-minute load average above which a run is not published
STARTUP_S = 600.0  # the first start trains the game's models (about a minute, more when busy)
Json = dict[str, Any]
console = Console()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(base: str, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    give_up = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"`tycoon serve` exited with status {proc.returncode}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"http://{base}/api/health", timeout=2) as answer,
        ):
            if answer.status == 200:
                return
        if time.monotonic() > give_up:
            raise RuntimeError(f"no server answered at {base} within {timeout_s:.0f} s")
        time.sleep(0.5)


def _stop(proc: subprocess.Popen[bytes], info: Json) -> None:
    """SIGINT (what Ctrl-C sends), then kill after 5 s; records how it went in `info`."""
    if proc.poll() is None:
        asked = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=5)
            info["stopped_by"] = "SIGINT"
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            info["stopped_by"] = "kill (SIGINT did not stop it within 5 s)"
        info["stop_s"] = round(time.monotonic() - asked, 2)
    info["exit_code"] = proc.returncode


@contextlib.contextmanager
def tycoon_server(artifacts: Path, connections: int, info: Json) -> Iterator[str]:
    """`tycoon serve` on a free port with a throw-away save file; yields "127.0.0.1:PORT"."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="tycoon-load-") as tmp:
        env = {
            **os.environ,
            "TYCOON_DATABASE": str(Path(tmp) / "games.sqlite3"),
            "TYCOON_MAX_CONNECTIONS_PER_CLIENT": str(connections),
            "TYCOON_MAX_GAMES": str(max(1000, connections)),
        }
        script = Path(sys.executable).with_name("tycoon")
        entry = [str(script)] if script.exists() else [sys.executable, "-m", "app.cli"]
        cmd = [*entry, "serve", "--port", str(port), "--artifacts", str(artifacts)]
        log_path = Path(tmp) / "server.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            info["pid"] = proc.pid
            try:
                _wait_healthy(f"127.0.0.1:{port}", proc, STARTUP_S)
                yield f"127.0.0.1:{port}"
            except BaseException:
                tail = log_path.read_text(errors="replace").splitlines()[-15:]
                console.print("[red]server log (last lines):[/]\n" + "\n".join(tail))
                raise
            finally:
                _stop(proc, info)


class Sampler(threading.Thread):
    """The server's resident memory and CPU, once a second, until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.rss: list[int] = []
        self.cpu: list[float] = []
        self.done = threading.Event()

    def run(self) -> None:
        with contextlib.suppress(psutil.Error):
            self.process.cpu_percent(None)  # the first call only starts the clock
            while not self.done.wait(1.0):
                self.rss.append(self.process.memory_info().rss)
                self.cpu.append(self.process.cpu_percent(None))


def targets(r: Json, speed: float) -> Json:
    """Issue 10's targets, each with the measured value and whether it was met."""
    checks = {
        "every game within ±5% of the speed": (r["ticks_per_s"]["fraction_within_5pct"], 1.0),
        "p99 frame gap < 100 ms": (r["frame_gap_ms"]["p99"], 100.0),
        "server RSS < 1 GiB": (r["server"]["rss_mib_max"], 1024.0),
        "<= 30 KB/s per client (max)": (r["bytes_per_s_per_client"]["max"] / 1e3, 30.0),
        "new connection's first frame < 0.5 s (max)": (r["first_frame_s"]["max"], 0.5),
    }
    out = {}
    for name, (value, limit) in checks.items():
        met = value >= limit if name.startswith("every") else value <= limit
        out[name] = {"value": round(value, 4), "limit": limit, "met": bool(met)}
    return out


def print_table(record: Json) -> None:
    r, s = record["results"], record["settings"]
    table = Table(title=f"{s['clients']} dashboards at speed {s['speed']:g}, {s['seconds']:g} s")
    table.add_column("measure")
    table.add_column("value", justify="right")
    tps, gap, bps = r["ticks_per_s"], r["frame_gap_ms"], r["bytes_per_s_per_client"]
    rows = [
        (
            "ticks/s per game (min / median / max)",
            f"{tps['min']:.1f} / {tps['median']:.1f} / {tps['max']:.1f}",
        ),
        ("games within ±5 % of the speed", f"{100 * tps['fraction_within_5pct']:.0f} %"),
        ("frames/s per client (median)", f"{r['frames_per_s_per_client_median']:.1f}"),
        (
            "frame gap ms (p50 / p99 / max)",
            f"{gap['p50']:.0f} / {gap['p99']:.0f} / {gap['max']:.0f}",
        ),
        ("KB/s per client (median / max)", f"{bps['median'] / 1e3:.1f} / {bps['max'] / 1e3:.1f}"),
        (
            "server RSS max / CPU mean",
            f"{r['server']['rss_mib_max']:.0f} MiB / {r['server']['cpu_percent_mean']:.0f} %",
        ),
        ("client processes' CPU", " + ".join(f"{c:.0f} %" for c in r["client_cpu_percent"])),
        (
            "first frame of a new connection (p50 / max)",
            f"{r['first_frame_s']['p50']:.3f} / {r['first_frame_s']['max']:.3f} s",
        ),
        (
            "load average before / after",
            f"{record['produced']['load_average_1m_before']:.2f} / {record['produced']['load_average_1m_after']:.2f}",
        ),
    ]
    for row in rows:
        table.add_row(*row)
    for name, t in record["targets"].items():
        table.add_row(f"target: {name}", "[green]met[/]" if t["met"] else "[red]missed[/]")
    console.print(table)


def _uptime() -> str | None:
    found = shutil.which("uptime")
    if not found:
        return None
    return subprocess.run([found], capture_output=True, text=True, check=False).stdout.strip()


def run(
    clients: int,
    speed: float,
    seconds: float,
    warmup: float,
    procs: int,
    probes: int,
    artifacts: Path,
) -> Json:
    """Start the server, play the load, stop everything; the record (without machine/commit)."""
    load_before, uptime_before = os.getloadavg()[0], _uptime()
    server: Json = {}
    with tycoon_server(artifacts, clients + probes + 10, server) as base:
        sampler = Sampler(server["pid"])

        def on_window() -> Callable[[], None]:
            sampler.start()
            return sampler.done.set

        traces, client_cpu, waits, window, failed = measure(
            base, clients, speed, seconds, warmup, procs, probes, on_window
        )
    results = summarize(traces, speed, window)
    results["server"] = {
        **server,
        "rss_mib_max": max(sampler.rss, default=0) / 2**20,
        "cpu_percent_mean": statistics.fmean(sampler.cpu) if sampler.cpu else 0.0,
        "cpu_percent_max": max(sampler.cpu, default=0.0),
    }
    results["client_cpu_percent"] = client_cpu
    results["dashboards_failed"] = failed
    results["first_frame_s"] = {
        "count": len(waits),
        "p50": percentile(waits, 0.5),
        "max": max(waits, default=0.0),
    }
    settings = {"clients": clients, "speed": speed, "seconds": seconds, "warmup_s": warmup}
    settings |= {"client_processes": procs, "probes": probes}
    produced = {
        "load_average_1m_before": load_before,
        "load_average_1m_after": os.getloadavg()[0],
        "uptime_before": uptime_before,
        "uptime_after": _uptime(),
    }
    return {
        "produced": produced,
        "settings": settings,
        "results": results,
        "targets": targets(results, speed),
    }


def main(
    clients: Annotated[int, typer.Option(min=1, help="dashboards playing at once")] = 200,
    speed: Annotated[float, typer.Option(min=0.1, help="ticks per second of every game")] = 50.0,
    seconds: Annotated[float, typer.Option(min=1, help="length of the measured window")] = 30.0,
    warmup: Annotated[float, typer.Option(min=0, help="seconds played before measuring")] = 5.0,
    procs: Annotated[int, typer.Option(min=1, help="client processes")] = 2,
    probes: Annotated[int, typer.Option(min=0, help="new connections timed during the load")] = 20,
    artifacts: Annotated[Path, typer.Option(help="the server's --artifacts")] = Path("artifacts"),
    out: Annotated[Path, typer.Option(help="untracked output folder", file_okay=False)] = SCRATCH,
    publish: Annotated[bool, typer.Option(help="also write bench/results/load.json")] = False,
) -> None:
    """Play `clients` dashboards at `speed` against a fresh `tycoon serve`; print and save."""
    from bench.record import machine, produced

    record = run(clients, max(speed, 0.1), seconds, warmup, min(procs, clients), probes, artifacts)
    stamp = produced()
    stamp["command"] = " ".join(["python -m bench.load", *sys.argv[1:]])
    # the server runs the working tree: say whether it held uncommitted server code
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no", "--", "app", "static"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    stamp["server_changes_uncommitted"] = (
        bool(changed.stdout.strip()) if not changed.returncode else None
    )
    record["produced"] = {**stamp, **record["produced"]}
    record["machine"] = machine()
    print_table(record)
    folders = [out]
    if publish:
        asked = {"clients": clients, "speed": speed, "seconds": seconds}
        quiet = record["produced"]["load_average_1m_before"] < QUIET_LOAD
        if asked == README_SETTINGS and quiet:
            folders.append(RESULTS)
        else:
            console.print(
                f"[yellow]not published:[/] needs {README_SETTINGS} and a load average below {QUIET_LOAD} before the run"
            )
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "load.json.tmp").write_text(json.dumps(record, indent=1) + "\n")
        (folder / "load.json.tmp").replace(folder / "load.json")
        console.print(f"wrote {folder / 'load.json'}")


if __name__ == "__main__":
    typer.run(main)

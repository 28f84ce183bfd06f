"""Dashboard speed in a real browser: frame rate and render time at full game speed.

Run by hand (never by the test suite, which asserts no timings):

    .venv/bin/python -m bench.browser_fps                      # starts `tycoon serve` itself
    .venv/bin/python -m bench.browser_fps --url http://127.0.0.1:8000/ --seconds 20

Opens the dashboard in Debian's headless chromium (never a browser downloaded by Playwright),
plays at --speed ticks per second and measures, over --seconds after a warm-up:
- frames per second the page paints (a requestAnimationFrame counter),
- the JS time of each render (the store's per-frame timings, `window.__tycoon.stats.renderMs`),
- states received per second against the ticks the server played (a slow page skips states).
Writes bench/results/browser.json (or --out). Headless chromium without a GPU paints in
software, so the numbers compare runs on one machine, not machines.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("TYCOON_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Counts painted frames in the page; `window.__fps` holds the count and the first timestamp.
FRAME_COUNTER_JS = """() => {
  const c = (window.__fps = {frames: 0, t0: performance.now()});
  const tick = () => { c.frames += 1; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
}"""

SAMPLE_JS = """() => {
  const s = window.__tycoon.stats;
  return {now: performance.now(), frames: window.__fps.frames, renders: s.renders,
          ticks: s.ticks, tick: window.__tycoon.game.state.tick, renderMs: s.renderMs.slice()};
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, timeout_s: float, proc: subprocess.Popen) -> None:
    give_up = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"`tycoon serve` exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "api/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > give_up:
            raise RuntimeError(f"no server answered at {url} within {timeout_s:.0f} s")
        time.sleep(0.5)


@contextmanager
def server(url: str | None, artifacts: Path):
    """The server at `url`, or a `tycoon serve` of our own on a free port."""
    if url:
        yield url if url.endswith("/") else url + "/"
        return
    port = free_port()
    # `tycoon serve`, through the CLI's entry point (the way the console script calls it).
    cmd = [sys.executable, "-c", "from app.cli import main; main()", "serve", "--port", str(port)]
    cmd += ["--artifacts", str(artifacts)]
    proc = subprocess.Popen(cmd, cwd=ROOT)
    try:
        own = f"http://127.0.0.1:{port}/"
        wait_healthy(own, timeout_s=600, proc=proc)  # the first run trains the models
        yield own
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(page: Any, seconds: float, speed: int, warmup_s: float) -> dict:
    page.get_by_test_id("speed").select_option(str(speed))
    page.wait_for_function(
        f"window.__tycoon.game.state.running && window.__tycoon.game.state.ticks_per_second === {speed}"
    )
    page.evaluate(FRAME_COUNTER_JS)
    page.wait_for_timeout(warmup_s * 1000)
    page.evaluate("window.__tycoon.stats.renderMs.length = 0")
    start = page.evaluate(SAMPLE_JS)
    render_ms: list[float] = []
    # renderMs keeps the last 240 renders: read it often enough to keep them all.
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        page.wait_for_timeout(1000)
        sample = page.evaluate(SAMPLE_JS)
        render_ms += sample["renderMs"]
        page.evaluate("window.__tycoon.stats.renderMs.length = 0")
    stop = page.evaluate(SAMPLE_JS)
    page.get_by_test_id("speed").select_option("0")
    elapsed = (stop["now"] - start["now"]) / 1000
    return {
        "seconds": round(elapsed, 2),
        "fps": round((stop["frames"] - start["frames"]) / elapsed, 1),
        "renders_per_s": round((stop["renders"] - start["renders"]) / elapsed, 1),
        "states_received_per_s": round((stop["ticks"] - start["ticks"]) / elapsed, 1),
        "server_ticks_per_s": round((stop["tick"] - start["tick"]) / elapsed, 1),
        "render_ms": {
            "count": len(render_ms),
            "median": round(statistics.median(render_ms), 3) if render_ms else None,
            "p95": round(percentile(render_ms, 0.95), 3) if render_ms else None,
            "max": round(max(render_ms), 3) if render_ms else None,
        },
    }


def main(
    url: Annotated[
        str | None, typer.Option(help="a running dashboard; default: start `tycoon serve`")
    ] = None,
    seconds: Annotated[float, typer.Option(help="measured seconds per viewport")] = 10.0,
    speed: Annotated[int, typer.Option(help="ticks per second")] = 50,
    warmup: Annotated[float, typer.Option(help="seconds played before measuring")] = 2.0,
    artifacts: Annotated[Path, typer.Option(help="models for the server we start")] = ROOT
    / "artifacts",
    out: Annotated[Path, typer.Option(help="JSON results")] = RESULTS / "browser.json",
) -> None:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        typer.echo(f"no chromium at {CHROMIUM} (run `make browser`)", err=True)
        raise typer.Exit(2)
    viewports = {"desktop 1600x1000": (1600, 1000), "phone 390x844": (390, 844)}
    runs: dict[str, dict] = {}
    with server(url, artifacts) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        version = browser.version
        for name, (w, h) in viewports.items():
            page = browser.new_page(viewport={"width": w, "height": h})
            page.goto(base)
            page.wait_for_function("window.__tycoon && window.__tycoon.stats.snapshots >= 1")
            runs[name] = measure(page, seconds, speed, warmup)
            page.close()
            r = runs[name]
            typer.echo(
                f"{name}: {r['fps']} fps, render median {r['render_ms']['median']} ms "
                f"(p95 {r['render_ms']['p95']}, max {r['render_ms']['max']}), "
                f"{r['states_received_per_s']} states/s received of "
                f"{r['server_ticks_per_s']} ticks/s played"
            )
        browser.close()
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    payload = {
        "produced": {
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": " ".join(["python -m bench.browser_fps", *sys.argv[1:]]),
            "git_commit": commit or None,
            "load_average_1m": round(os.getloadavg()[0], 2),
        },
        "machine": {
            "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "chromium": version,
        },
        "speed": speed,
        "viewports": runs,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=1) + "\n")
    typer.echo(f"wrote {out}")


if __name__ == "__main__":
    typer.run(main)

"""Federation Lab at scale (issue 21): how fast 8,000 nodes prepare and train, what memory a run
holds and gives back, and how soon Cancel acts.

    .venv/bin/python -m bench.lab_scale [--publish] [--nodes 8000] [--rounds 3] [--threads 2]

Each model family runs in its own child process (so its peak and resident memory are its own):
- prepare: the run's work estimate (what the server checks before queueing it) and `LabRun(...)`;
- rounds: `--rounds` rounds, each timed (wall and this process's CPU seconds);
- memory: resident size before the run (data loaded), its peak, and after `close()` and the
  last reference dropped (`fl_engine.lab.memory`: gc and glibc's `malloc_trim`);
- cancel: a fresh run's round cancelled from another thread 1 s in (`--cancels` times), the
  seconds from `cancel()` to `step` raising `Cancelled`.
The load average (`os.getloadavg()`) is recorded before and after each family: on a shared
machine the wall times grow with it, the CPU seconds much less. Targets (issue 21, on a quiet
machine): prepare <= 15 s, a window round <= 10 s, memory given back, Cancel within 1 s.

JSON to runs/bench/lab_scale.json; `--publish` also writes bench/results/lab_scale.json, only with
the README's settings. A markdown table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.record import RESULTS, ROOT, machine, produced, write_tables

Json = dict[str, Any]
SCRATCH = ROOT / "runs" / "bench"
README_SETTINGS: Json = {
    "nodes": 8000,
    "rounds": 3,
    "models": ["window", "ff09"],
    "threads": 1,  # as the server's lab threads train (`LabBackend.setup_thread`)
    "cancels": 3,
}
TARGETS = {"prepare_s": 15.0, "window_round_s": 10.0, "cancel_s": 1.0}
CANCEL_AFTER_S = 1.0  # into the round: past the minibatch plans, into the training


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def child(model: str, nodes: int, rounds: int, threads: int, cancels: int) -> Json:
    """One family's figures (run in its own process: `--child`)."""
    import torch

    torch.set_num_threads(threads)
    from fl_engine.data import load_runs, resolve_data_dir
    from fl_engine.lab import LabRun, lab_config
    from fl_engine.lab.limits import Cancelled
    from fl_engine.lab.memory import release_memory, resident_mib

    runs = load_runs(resolve_data_dir(None))
    config = lab_config({"model": model, "nodes": nodes, "rounds": rounds})
    out: Json = {"model": model, "nodes": nodes, "load_before": _load()}
    release_memory()
    out["rss_before_mib"] = resident_mib()
    start, cpu = time.perf_counter(), time.process_time()
    LabRun.estimate_work(runs, config)
    run = LabRun(runs, config)
    out["prepare_s"] = time.perf_counter() - start
    out["prepare_cpu_s"] = time.process_time() - cpu
    walls, cpus = [], []
    while not run.done:
        start, cpu = time.perf_counter(), time.process_time()
        record = run.step()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    out.update(round_s=walls, round_cpu_s=cpus, rmse=record["rmse"])
    out["round_s_median"], out["round_cpu_s_median"] = statistics.median(walls), min(cpus)
    out["rss_peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["rss_end_of_run_mib"] = resident_mib()
    run.close()
    del run
    release_memory()
    out["rss_after_mib"] = resident_mib()
    latencies = []
    for _ in range(cancels):
        run = LabRun(runs, config)
        stopped: list[float] = []

        def play(r: LabRun = run, until: list[float] = stopped) -> None:
            try:
                r.step()
            except Cancelled:
                until.append(time.perf_counter())

        thread = threading.Thread(target=play)
        thread.start()
        time.sleep(CANCEL_AFTER_S)
        asked = time.perf_counter()
        run.cancel()
        thread.join()
        latencies.append(stopped[0] - asked if stopped else float("nan"))
        run.close()
        del run
    out["cancel_s"], out["cancel_s_max"] = latencies, max(latencies, default=float("nan"))
    release_memory()
    out["rss_after_cancels_mib"] = resident_mib()
    out["load_after"] = _load()
    return out


def markdown(result: Json) -> str:
    s = result["settings"]
    out = [
        f"{s['nodes']:,} nodes, {s['threads']} torch threads; wall seconds (CPU seconds of the "
        "process), load average (1, 5, 15 min) before and after",
        "",
        "| model | prepare s | s / round (median) | peak RSS MiB | RSS before / after run MiB "
        "| cancel s (max) | load before / after |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in result["rows"]:
        load = f"{'/'.join(map(str, r['load_before']))} → {'/'.join(map(str, r['load_after']))}"
        out.append(
            f"| {r['model']} | {r['prepare_s']:.1f} ({r['prepare_cpu_s']:.1f}) | "
            f"{r['round_s_median']:.1f} ({r['round_cpu_s_median']:.1f}) | "
            f"{r['rss_peak_mib']:.0f} | {r['rss_before_mib']:.0f} / {r['rss_after_mib']:.0f} | "
            f"{r['cancel_s_max']:.2f} | {load} |"
        )
    return "\n".join(out)


def parse(argv: list[str] | None) -> argparse.Namespace:
    d = README_SETTINGS
    p = argparse.ArgumentParser(
        prog="python -m bench.lab_scale", description=__doc__.split("\n")[0]
    )
    p.add_argument("--nodes", type=int, default=d["nodes"])
    p.add_argument("--rounds", type=int, default=d["rounds"])
    p.add_argument("--models", nargs="+", choices=("window", "ff09"), default=d["models"])
    p.add_argument("--threads", type=int, default=d["threads"], help="torch threads")
    p.add_argument("--cancels", type=int, default=d["cancels"], help="cancelled rounds timed")
    p.add_argument("--out", type=Path, default=SCRATCH, help="untracked output folder")
    p.add_argument("--publish", action="store_true", help="also bench/results/lab_scale.json")
    p.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> Json:
    args = parse(argv)
    if args.child:
        model, *numbers = args.child
        print(json.dumps(child(model, *map(int, numbers))))
        return {}
    settings = {k: getattr(args, k) for k in README_SETTINGS}
    stamp = produced()
    stamp["command"] = " ".join(
        ["python -m bench.lab_scale", *(sys.argv[1:] if argv is None else argv)]
    )
    result: Json = {"produced": stamp, "machine": machine(), "settings": settings, "rows": []}
    result["targets"] = TARGETS
    for model in args.models:
        numbers = [str(v) for v in (args.nodes, args.rounds, args.threads, args.cancels)]
        cmd = [sys.executable, "-m", "bench.lab_scale", "--child", model, *numbers]
        print(f"{model}: {args.nodes} nodes ...", flush=True)
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps(row), flush=True)
        result["rows"].append(row)
    result["markdown"] = markdown(result)
    print(result["markdown"])
    published = RESULTS if args.publish else None
    write_tables("lab_scale", result, args.out, published, settings, README_SETTINGS)
    return result


if __name__ == "__main__":
    main()

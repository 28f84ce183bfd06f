"""Seconds per round, start-up, summed RSS and final RMSE of the FF09 federated stage on each
runtime: in process, Flower simulation (Ray), Flower deployment (SuperLink + SuperNodes on
loopback), for several node counts, one run each on this machine.

    python -m bench.flower [--nodes 4,10,20,80] [--rounds 3] [--max-supernodes 8] [--json PATH]
        [--idle-nodes 8 --idle-seconds 20] [--publish]

Prints a markdown table; writes JSON only where --json says, and with --publish merges into
bench/results/flower.json: rows replace those of the same runtime and node count, `idle` is
replaced, every other key (other benchmarks' sections, e.g. `privacy`) is kept. A deployment
needs two processes per node (SuperNode and ClientApp executor): beyond --max-supernodes it is
not run and the table says so. Each deployment row also has the CPU-seconds all its Flower
processes spent per round (rounds 2 to the last: what a round costs whatever else runs), and
every row the load average (`os.getloadavg()`) before and after: this machine is shared, and a
round's wall time on 2 cores says as much about the neighbours as about Flower.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

RUNTIMES = ("in-process", "flower-simulation", "flower-deployment")
PUBLISHED = Path(__file__).resolve().parent / "results" / "flower.json"


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded."""
    return [round(x, 2) for x in os.getloadavg()]


def cpu_seconds(procs: list[Any]) -> dict[int, float]:
    """User + system CPU-seconds of each live process, by pid."""
    out: dict[int, float] = {}
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        out[proc.pid] = float(times.user + times.system)
    return out


def _rss(proc: Any) -> int:
    try:
        return int(proc.memory_info().rss)
    except psutil.Error:
        return 0


def _tree_rss() -> int:
    me = psutil.Process()
    return sum(_rss(p) for p in [me, *me.children(recursive=True)])


def run_one(runtime: str, nodes: int, rounds: int, data_dir: Path) -> dict[str, Any]:
    """One run of `runtime` with `nodes` nodes; its timings, memory and final test RMSE."""
    from fl_engine.data import load_runs
    from fl_engine.experiment import ExperimentConfig, FederatedInputs, run_experiment
    from fl_engine.experiment import federate_in_process as in_process
    from fl_engine.flower.deployment import Deployment, run_deployment_runtime
    from fl_engine.flower.stage import FlowerStage, simulation_runtime

    cfg = ExperimentConfig(seed=0, n_nodes=nodes, rounds=rounds)
    peak = [0]
    times: list[float] = []
    load_before = load()
    cpu: list[dict[int, float]] = []  # CPU-seconds of the deployment's processes after rounds

    def sample() -> None:
        peak[0] = max(peak[0], _tree_rss())

    out = Path(tempfile.mkdtemp(prefix="bench-flower-"))
    runner: Callable[[FederatedInputs], Any]
    if runtime == "in-process":
        started = [0.0]

        def runner(inp: FederatedInputs) -> Any:
            def tick(stage: str, done: int, total: int) -> None:
                times.append(time.perf_counter())
                sample()

            started[0] = time.perf_counter()
            return in_process(dataclasses.replace(inp, tick=tick))

        result = run_experiment(load_runs(data_dir), cfg, None, runner)
        marks = [started[0], *times]
        per_round = [b - a for a, b in itertools.pairwise(marks)]
        startup = 0.0
    else:
        deployments: list[Deployment] = []

        def on_round(_r: int, _rec: dict[str, Any]) -> None:
            if not deployments:  # the simulation: this process and its Ray workers
                sample()
            for d in deployments:  # one pass over /proc a round: the bench's own cost stays small
                procs = d.cluster.procs.scan()
                rss = sum(_rss(p) for p in procs) + psutil.Process().memory_info().rss
                peak[0] = max(peak[0], rss)
                cpu.append(cpu_seconds(procs))

        if runtime == "flower-simulation":
            sim = simulation_runtime()
            stage = FlowerStage(lambda s, _cb: sim(s, on_round), data_dir, out)
        else:

            def deployed(spec: Any, _cb: Any) -> Any:
                return run_deployment_runtime(spec, on_round, on_started=deployments.append)

            stage = FlowerStage(deployed, data_dir, out)
        result = run_experiment(load_runs(data_dir), cfg, None, stage)
        (outcome,) = stage.outcomes
        per_round, startup = list(outcome.seconds_per_round), outcome.startup_seconds
    row = {
        "runtime": runtime,
        "nodes": nodes,
        "rounds": rounds,
        "seconds_per_round": statistics.median(per_round) if per_round else None,
        "seconds_per_round_all": per_round,
        "startup_seconds": startup,
        "rss_mib": peak[0] / 2**20,
        "final_rmse": result.federated_curve[-1],
        "load_before": load_before,
        "load_after": load(),
        "flwr": _flwr_version(),
    }
    if len(cpu) >= 2:  # rounds 2..R: the first round also loads the app and the data
        first, last = cpu[0], cpu[-1]
        spent = sum(last[pid] - first.get(pid, 0.0) for pid in last)
        row["cpu_seconds_per_round"] = spent / (len(cpu) - 1)
    return row


def _flwr_version() -> str | None:
    try:
        import flwr

        return str(flwr.__version__)
    except ImportError:
        return None


def _kind(cmdline: list[str]) -> str:
    text = " ".join(cmdline)
    for kind in ("fast_supernode", "flower-supernode", "warm_clientapp", "flower-superlink"):
        if kind in text:
            return kind
    return "other"


def idle_cpu(nodes: int, seconds: float, settle_s: float) -> dict[str, Any]:
    """Cores used by an idle loopback deployment (SuperLink, its SuperExec, `nodes` SuperNodes and
    executors, no run), over `seconds` once `settle_s` after all nodes are online: what a
    deployment costs a shared machine while nobody trains."""
    from fl_engine.flower.cluster import LocalCluster

    configs = [{"partition-id": i, "num-partitions": nodes, "data-dir": ""} for i in range(nodes)]
    cluster = LocalCluster(configs)
    try:
        cluster.start()
        time.sleep(settle_s)
        procs = cluster.procs.scan()
        kinds = {}
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                kinds[proc.pid] = _kind(proc.cmdline())
        before, load_before, t0 = cpu_seconds(procs), load(), time.monotonic()
        time.sleep(seconds)
        after, wall = cpu_seconds(procs), time.monotonic() - t0
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)
    by_kind: dict[str, float] = {}
    for pid, spent in after.items():
        kind = kinds.get(pid, "other")
        by_kind[kind] = by_kind.get(kind, 0.0) + (spent - before.get(pid, spent)) / wall
    return {
        "nodes": nodes,
        "seconds": round(wall, 1),
        "settle_seconds": settle_s,
        "cores": sum(by_kind.values()),
        "cores_by_process": by_kind,
        "processes": len(procs),
        "load_before": load_before,
        "load_after": load(),
        "flwr": _flwr_version(),
    }


def publish(rows: list[dict[str, Any]], idle: dict[str, Any] | None, argv: list[str]) -> None:
    """Merge into bench/results/flower.json, read just before writing: rows of the same runtime
    and node count and `idle` are replaced, everything else (other sections) is kept."""
    from bench.record import machine

    date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    data = json.loads(PUBLISHED.read_text()) if PUBLISHED.exists() else {}
    fresh = {(r["runtime"], r["nodes"]) for r in rows}
    old = [r for r in data.get("rows", []) if (r.get("runtime"), r.get("nodes")) not in fresh]
    new = [{**r, "measured": date} for r in rows]
    data["rows"] = sorted(old + new, key=lambda r: (r["nodes"], RUNTIMES.index(r["runtime"])))
    if idle is not None:
        data["idle"] = {**idle, "measured": date}
    data["produced"] = {"date": date, "command": " ".join(["python -m bench.flower", *argv])}
    data["machine"] = machine()
    tmp = PUBLISHED.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(PUBLISHED)
    print(f"merged into {PUBLISHED}")


def table(rows: list[dict[str, Any]]) -> str:
    """The markdown table of `rows`."""
    head = "| runtime | nodes | s/round (median) | CPU-s/round | start-up s | RSS MiB (all procs) "
    head += "| RMSE | load avg before -> after |"
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        if r.get("skipped"):
            lines.append(f"| {r['runtime']} | {r['nodes']} | {r['skipped']} | | | | | |")
            continue
        cpu = r.get("cpu_seconds_per_round")
        lines.append(
            f"| {r['runtime']} | {r['nodes']} | {r['seconds_per_round']:.2f} | "
            f"{'' if cpu is None else f'{cpu:.2f}'} | {r['startup_seconds']:.1f} | "
            f"{r['rss_mib']:.0f} | {r['final_rmse']:.3f} | "
            f"{r['load_before'][0]:.1f} -> {r['load_after'][0]:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", default="4,10,20,80")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runtimes", default=",".join(RUNTIMES))
    parser.add_argument("--max-supernodes", type=int, default=8)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--idle-nodes", type=int, default=0, help="also measure an idle cluster")
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--idle-settle", type=float, default=30.0)
    parser.add_argument("--publish", action="store_true", help="merge into " + str(PUBLISHED))
    args = parser.parse_args(argv)
    from fl_engine.data import resolve_data_dir

    data_dir = resolve_data_dir()
    rows: list[dict[str, Any]] = []
    for nodes in [int(n) for n in args.nodes.split(",")]:
        for runtime in args.runtimes.split(","):
            if runtime == "flower-deployment" and nodes > args.max_supernodes:
                why = f"not run: {2 * nodes} processes on this machine (cap {args.max_supernodes})"
                rows.append({"runtime": runtime, "nodes": nodes, "skipped": why})
                continue
            rows.append(run_one(runtime, nodes, args.rounds, data_dir))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    print(table(rows))
    idle = None
    if args.idle_nodes:
        idle = idle_cpu(args.idle_nodes, args.idle_seconds, args.idle_settle)
        print(
            f"idle cluster of {idle['nodes']} SuperNodes: {idle['cores']:.3f} cores over "
            f"{idle['seconds']} s, load {idle['load_before']} -> {idle['load_after']}"
        )
    if args.json is not None:
        args.json.write_text(json.dumps({"rows": rows, "idle": idle}, indent=2))
    if args.publish:
        publish(rows, idle, list(argv if argv is not None else sys.argv[1:]))


if __name__ == "__main__":
    main()

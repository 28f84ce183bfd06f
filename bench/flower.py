"""Seconds per round, start-up, summed RSS and final RMSE of the FF09 federated stage on each
runtime: in process, Flower simulation (Ray), Flower deployment (SuperLink + SuperNodes on
loopback), for several node counts, one run each on this machine.

    python -m bench.flower [--nodes 4,10,20,80] [--rounds 3] [--max-supernodes 8] [--json PATH]

Prints a markdown table; writes JSON only where --json says. A deployment needs two processes
per node (SuperNode and ClientApp executor): beyond --max-supernodes it is not run and the
table says so.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

RUNTIMES = ("in-process", "flower-simulation", "flower-deployment")


def _tree_rss() -> int:
    me = psutil.Process()
    total = 0
    for proc in [me, *me.children(recursive=True)]:
        try:
            total += int(proc.memory_info().rss)
        except psutil.Error:
            continue
    return total


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
            sample()
            for d in deployments:
                peak[0] = max(peak[0], d.rss_bytes() + psutil.Process().memory_info().rss)

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
    return {
        "runtime": runtime,
        "nodes": nodes,
        "rounds": rounds,
        "seconds_per_round": statistics.median(per_round) if per_round else None,
        "startup_seconds": startup,
        "rss_mib": peak[0] / 2**20,
        "final_rmse": result.federated_curve[-1],
    }


def table(rows: list[dict[str, Any]]) -> str:
    """The markdown table of `rows`."""
    head = "| runtime | nodes | s/round (median) | start-up s | RSS MiB (all procs) | RMSE |"
    lines = [head, "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r.get("skipped"):
            lines.append(f"| {r['runtime']} | {r['nodes']} | {r['skipped']} | | | |")
            continue
        lines.append(
            f"| {r['runtime']} | {r['nodes']} | {r['seconds_per_round']:.2f} | "
            f"{r['startup_seconds']:.1f} | {r['rss_mib']:.0f} | {r['final_rmse']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", default="4,10,20,80")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runtimes", default=",".join(RUNTIMES))
    parser.add_argument("--max-supernodes", type=int, default=8)
    parser.add_argument("--json", type=Path, default=None)
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
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()

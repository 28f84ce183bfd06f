"""What privacy costs on Flower's deployment runtime: seconds and bytes per round of the FF09
federation with plain FedAvg, DP-FedAvg (Flower's server-side fixed-clipping wrapper,
`fl_engine.flower.privacy`) and Flower's SecAgg+ (`fl_engine.flower.secure`), at 4 and 8
SuperNodes on loopback, every node federating, one run each (issue 22).

    python -m bench.flower_privacy [--nodes 4,8] [--rounds 3] [--json bench/results/flower.json]

With --json the rows go under the file's "privacy" key (the other keys, `bench.flower`'s, are
kept), with the load average (`os.getloadavg()`) before and after each run: on a shared 2-core
machine the seconds mean little without it. Seconds per round are the ServerApp's (median);
bytes are the round's messages both ways as each path counts them (arrays for plain and DP,
every record of the four SecAgg+ stages for SecAgg+), from round 2 (round 1 includes the
partition query).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

VARIANTS: dict[str, dict[str, Any]] = {
    "plain": {},
    "dp": {"dp_noise": 1.0, "dp_clip": 1.0},
    "secagg+": {"secure_aggregation": True},
}


def run_one(variant: str, nodes: int, rounds: int, data_dir: Path) -> dict[str, Any]:
    """One deployment run; its seconds and bytes per round and final RMSE."""
    from fl_engine.flower.deployment import run_deployment_runtime
    from fl_engine.flower.spec import FlowerSpec

    out = Path(tempfile.mkdtemp(prefix="bench-flower-privacy-"))
    spec = FlowerSpec(seed=0, nodes=nodes, rounds=rounds, data_dir=data_dir, out_dir=out,
                      non_participant=None, **VARIANTS[variant])  # fmt: skip
    load_before = os.getloadavg()
    started = time.perf_counter()
    outcome = run_deployment_runtime(spec, min_nodes=nodes)
    wall = time.perf_counter() - started
    later = outcome.rounds[1:] or outcome.rounds
    last = outcome.rounds[-1]
    return {
        "variant": variant,
        "nodes": nodes,
        "rounds": rounds,
        "seconds_per_round": statistics.median(outcome.seconds_per_round),
        "seconds_per_round_all": outcome.seconds_per_round,
        "bytes_up_per_round": statistics.median(r["bytes_up"] for r in later),
        "bytes_down_per_round": statistics.median(r["bytes_down"] for r in later),
        "startup_seconds": outcome.startup_seconds,
        "wall_seconds": wall,
        "final_rmse": last["test_rmse"],
        "epsilon": last.get("epsilon"),
        "loadavg_before": list(load_before),
        "loadavg_after": list(os.getloadavg()),
    }


def table(rows: list[dict[str, Any]]) -> str:
    """The markdown table of `rows`."""
    lines = [
        "| variant | SuperNodes | s/round (median) | KiB up / round | KiB down / round | "
        "RMSE | epsilon | load avg (1 min) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        eps = "" if r["epsilon"] is None else f"{r['epsilon']:.2f}"
        lines.append(
            f"| {r['variant']} | {r['nodes']} | {r['seconds_per_round']:.2f} | "
            f"{r['bytes_up_per_round'] / 1024:.1f} | {r['bytes_down_per_round'] / 1024:.1f} | "
            f"{r['final_rmse']:.3f} | {eps} | {r['loadavg_before'][0]:.1f} |"
        )
    return "\n".join(lines)


def _produced(argv: list[str] | None) -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": "python -m bench.flower_privacy " + " ".join(argv or sys.argv[1:]),
        "git_commit": commit,
        "logical_cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--nodes", default="4,8")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    from fl_engine.data import resolve_data_dir

    data_dir = resolve_data_dir()
    rows: list[dict[str, Any]] = []
    for nodes in [int(n) for n in args.nodes.split(",")]:
        for variant in args.variants.split(","):
            rows.append(run_one(variant, nodes, args.rounds, data_dir))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    print(table(rows))
    if args.json is not None:
        data = json.loads(args.json.read_text()) if args.json.exists() else {}
        data["privacy"] = {"produced": _produced(argv), "rows": rows}
        args.json.write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()

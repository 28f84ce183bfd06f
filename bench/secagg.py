"""Secure aggregation's cost: one round of `fl_engine.secagg.secure_sum` at growing scale.

    .venv/bin/python -m bench.secagg [--nodes 10 80 800] [--params 1181] [--dropout 0.1]
                                     [--json PATH]

Bonawitz et al. 2017 (CCS, §7) predict O(n + m) bytes per client (n clients, m parameters) and
O(n^2 + m n) computation per client, O(n^2) + O(m n^2) for the server under dropouts: every
client agrees keys with, encrypts shares for and expands a mask for every other client. Here all
clients and the server run in one process, so a phase's seconds are the whole federation's work;
divided by the clients it is about one client's wall time when clients run in parallel.

Threshold: `default_threshold` (t > 2n/3); dropouts: the given fraction of clients, drawn with a
fixed seed, leave before the masked-input step. Prints a markdown table; JSON only with --json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.record import machine
from fl_engine.secagg import default_threshold, secure_sum

Json = dict[str, Any]
PHASES = ("advertise_keys", "share_keys", "masked_input", "unmasking")


def measure(nodes: int, params: int, dropout: float, seed: int = 0) -> Json:
    """One round's seconds per phase, bytes per client, and the error against the plain sum."""
    rng = np.random.default_rng(seed)
    updates = rng.normal(0.0, 0.01, size=(nodes, params))  # [k, n], update-sized values
    dropped = sorted(int(d) for d in rng.choice(nodes, size=round(dropout * nodes), replace=False))
    threshold = default_threshold(nodes)
    start = time.perf_counter()
    out = secure_sum(updates, threshold=threshold, dropped=dropped)
    wall = time.perf_counter() - start
    alive = np.asarray(out.survivors)
    error = float(np.max(np.abs(out.total - updates[alive].sum(axis=0))))
    return {
        "nodes": nodes,
        "params": params,
        "threshold": threshold,
        "dropped": len(dropped),
        "seconds": {p: round(out.seconds[p], 4) for p in (*PHASES, "unmasking_server", "total")},
        "wall_seconds": round(wall, 3),
        "bytes_up_survivor": int(out.bytes_up[alive].max()),
        "bytes_down_survivor": int(out.bytes_down[alive].max()),
        "bytes_up_dropped": int(out.bytes_up[dropped].max()) if dropped else None,
        "plain_bytes_up": 4 * params,  # the masked input alone: what plain FedAvg would send
        "bytes_total": int(out.bytes_up.sum() + out.bytes_down.sum()),
        "max_abs_error": error,
    }


def table(rows: list[Json]) -> str:
    """Markdown: seconds per phase (whole federation), then bytes per surviving client."""
    head = (
        "| nodes | t | dropped | advertise s | share keys s | masked input s | unmasking s "
        "(server) | total s | per client s | up B/client | down B/client | up × plain |"
    )
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        s = r["seconds"]
        lines.append(
            f"| {r['nodes']} | {r['threshold']} | {r['dropped']} | {s['advertise_keys']:.3f} "
            f"| {s['share_keys']:.3f} | {s['masked_input']:.3f} | {s['unmasking']:.3f} "
            f"({s['unmasking_server']:.3f}) | {s['total']:.2f} | {s['total'] / r['nodes']:.4f} "
            f"| {r['bytes_up_survivor']:,} | {r['bytes_down_survivor']:,} "
            f"| {r['bytes_up_survivor'] / r['plain_bytes_up']:.1f} |"
        )
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.secagg", description=__doc__.split("\n")[0])
    p.add_argument("--nodes", type=int, nargs="+", default=[10, 80, 800])
    p.add_argument("--params", type=int, default=1181, help="parameters per update")
    p.add_argument("--dropout", type=float, default=0.1, help="fraction of clients dropping out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> Json:
    args = parse(argv)
    rows = []
    for nodes in args.nodes:
        rows.append(measure(nodes, args.params, args.dropout, args.seed))
        print(f"  {nodes} nodes: {rows[-1]['wall_seconds']:.1f} s", flush=True)
    result: Json = {
        "settings": {"params": args.params, "dropout": args.dropout, "seed": args.seed},
        "machine": machine(),
        "rows": rows,
    }
    print(table(rows))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()

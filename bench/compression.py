"""Compressed client updates: bytes per node per round, and the time to encode and decode them.

    .venv/bin/python -m bench.compression [--json PATH] [--params 1181] [--nodes 80] [--rounds 30]

For each scheme of `fl_engine.compression` (the lab's window model has 1,181 parameters, the lab
runs 80 nodes): the exact message size (the `len` of the real encodings; the random mask's varies,
so its mean), the vectorized path training uses for all nodes at once, the real encodings for all
nodes, and decoding them on the server, each the median over rounds in milliseconds. The updates
are Gaussian, new each round, so top-k's residual is in its steady state after the first rounds.
"Rel. error" is ||decoded - update|| / ||update|| of one round (top-k's is carried to the next
round by error feedback, not lost; the others' is zero-mean noise). A markdown table is printed;
JSON is written only to --json. One torch thread by default: on a shared 2-core machine a second
one makes each small op wait for a descheduled thread (`fl_engine.threads`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from bench.record import machine, produced
from fl_engine.compression import COMPRESSIONS, Compressor, make_compressor
from fl_engine.threads import torch_threads

Json = dict[str, Any]
T = TypeVar("T")
WARMUP = 3  # rounds left out of the timings (first allocations, top-k's empty residual)


def _ms(work: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    out = work()
    return 1000 * (time.perf_counter() - start), out


def measure(name: str, params: int, nodes: int, rounds: int, seed: int) -> Json:
    """One scheme's figures over `rounds` rounds (after the warm-up)."""
    data = torch.Generator().manual_seed(seed)
    vectorized = make_compressor(name, n_nodes=nodes)
    encoder = make_compressor(name, n_nodes=nodes)  # top-k is stateful: one for each path
    ids = np.arange(nodes)
    times: dict[str, list[float]] = {"vectorized_ms": [], "encode_ms": [], "decode_ms": []}
    sizes: list[int] = []
    errors: list[float] = []
    for rnd in range(WARMUP + rounds):
        updates = torch.randn(nodes, params, generator=data) * 0.01  # [nodes, params]
        vec_ms, out = _ms(partial(vectorized, updates, ids, _gen(seed, rnd)))
        enc_ms, messages = _ms(partial(encoder.messages, updates, ids, _gen(seed, rnd)))
        dec_ms, decoded = _ms(partial(_decode_all, encoder, messages, params))
        if not torch.equal(torch.stack(decoded), out.updates):
            raise AssertionError(f"{name}: the vectorized path differs from the messages decoded")
        if [len(m) for m in messages] != out.nbytes.tolist():
            raise AssertionError(f"{name}: byte counts differ from the encoded sizes")
        if rnd < WARMUP:
            continue
        times["vectorized_ms"].append(vec_ms)
        times["encode_ms"].append(enc_ms)
        times["decode_ms"].append(dec_ms)
        sizes += out.nbytes.tolist()
        errors.append(float((out.updates - updates).norm() / updates.norm()))
    return {
        "scheme": name,
        "bytes_per_node": statistics.mean(sizes),
        "bytes_min": min(sizes),
        "bytes_max": max(sizes),
        "relative_error": statistics.mean(errors),
        **{key: statistics.median(values) for key, values in times.items()},
    }


def _decode_all(compressor: Compressor, messages: list[bytes], params: int) -> list[torch.Tensor]:
    return [compressor.decode(m, params) for m in messages]


def _gen(seed: int, rnd: int) -> torch.Generator:
    return torch.Generator().manual_seed(1000 * seed + rnd)


def markdown(result: Json) -> str:
    s = result["settings"]
    raw = next(r["bytes_per_node"] for r in result["rows"] if r["scheme"] == "none")
    out = [
        f"{s['params']} parameters, {s['nodes']} nodes, median over {s['rounds']} rounds "
        f"(ms for all {s['nodes']} nodes, {s['threads']} torch thread(s))",
        "",
        "| scheme | bytes / node / round | vs float32 | rel. error | vectorized ms | "
        "encode ms | decode ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        spread = f" ({r['bytes_min']}-{r['bytes_max']})" if r["bytes_min"] != r["bytes_max"] else ""
        out.append(
            f"| {r['scheme']} | {r['bytes_per_node']:.0f}{spread} | "
            f"{raw / r['bytes_per_node']:.1f}x | {r['relative_error']:.3f} | "
            f"{r['vectorized_ms']:.2f} | {r['encode_ms']:.2f} | {r['decode_ms']:.2f} |"
        )
    out += [
        "",
        "Rel. error: one round's ||decoded - update|| / ||update||; top-k's stays in the residual "
        "and is sent later (error feedback), the others' is zero-mean noise.",
    ]
    return "\n".join(out)


def parse(argv: list[str] | None) -> argparse.Namespace:
    doc = (__doc__ or "").split("\n")[0]
    p = argparse.ArgumentParser(prog="python -m bench.compression", description=doc)
    p.add_argument("--params", type=int, default=1181, help="parameters per update")
    p.add_argument("--nodes", type=int, default=80)
    p.add_argument("--rounds", type=int, default=30, help="timed rounds (after 3 warm-up)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (see fl_engine.threads)")
    p.add_argument("--json", type=Path, default=None, help="also write the result here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> Json:
    args = parse(argv)
    settings = {k: getattr(args, k) for k in ("params", "nodes", "rounds", "threads")}
    stamp = produced()
    stamp["command"] = " ".join(
        ["python -m bench.compression", *(sys.argv[1:] if argv is None else argv)]
    )
    with torch_threads(args.threads):
        rows = [measure(n, args.params, args.nodes, args.rounds, args.seed) for n in COMPRESSIONS]
    result: Json = {"produced": stamp, "machine": machine(), "settings": settings, "rows": rows}
    result["markdown"] = markdown(result)
    print(result["markdown"])
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()

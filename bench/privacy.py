"""Privacy and communication benchmark: what DP, secure aggregation and compression cost in
accuracy and in dollars (issue 12's tables).

    .venv/bin/python -m bench.privacy [--publish] [--seeds 0] [--sigmas 0 0.3 0.7 1 1.5]

Every run is a `fl_engine.lab.LabRun` played to the end and deployed into the game's held-out
engines (`bench.lab.Lab`) for its profit as % of the oracle's:

(a) differential privacy: DP-FedAvg with noise multiplier sigma on 80 factories and on 800
    (the 80 partitions replicated), Poisson sampling, the same clip; epsilon after 10 and after the
    last round (at delta = 1/N^1.1), test RMSE, late-life RMSE and profit. At 800 either the same
    share is sampled (ten times the clients, so a tenth of the noise on their mean, for about the
    same epsilon) or the same number (the same noise on the mean, for a much smaller epsilon: a
    tenth of the sampling rate amplifies privacy): privacy gets cheaper as the federation grows.
(b) compression: bytes up per round and final RMSE / profit for each encoding, against float32.
(c) secure aggregation: the same federation with and without it (the sum is the same up to
    fixed point), and the protocol's bytes and seconds per round (`python -m bench.secagg` has
    the cost by number of clients).

JSON to runs/bench/privacy.json; `--publish` also writes bench/results/privacy.json, only with
the README's settings. Markdown tables are printed.
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from bench.lab import SCRATCH, Lab, fmt, play_tables
from bench.record import RESULTS, machine, produced, write_tables

Json = dict[str, Any]
README_SETTINGS: Json = {
    "seeds": [0, 1, 2],
    "model": "window",
    "sigmas": [0.0, 0.3, 0.7, 1.0, 1.5],
    # (factories, share sampled each round): 80 at 25% (20 a round); 800 at 25% (200 a round: the
    # noise on the mean is 10x smaller); 800 at 2.5% (20 a round: the same noise on the mean as
    # 80 at 25%, and a 10x smaller sampling rate to amplify privacy)
    "dp_federations": [[80, 0.25], [800, 0.25], [800, 0.025]],
    "dp_rounds": 50,
    "dp_clip": 0.5,
    "rounds": 20,  # compression and secure aggregation
    "nodes": 80,
    "compressions": ["none", "int8", "int4", "topk", "mask"],
}
EARLY_ROUND = 10


def _with(lab: Lab, **settings: Any) -> Lab:
    lab.settings = {**lab.settings, **settings}
    return lab


def privacy_table(lab: Lab, s: Json) -> list[Json]:
    rows = []
    for nodes, fraction in s["dp_federations"]:
        _with(lab, nodes=nodes, rounds=s["dp_rounds"])
        base = {"sample_fraction": fraction}
        row = lab.row("no DP", **base)
        rows.append({**row, "nodes": nodes, "sample_fraction": fraction, "sigma": None})
        for sigma in s["sigmas"]:
            dp = {**base, "dp_clip": s["dp_clip"], "dp_noise": sigma}
            row = lab.row(f"sigma {sigma}", **dp)
            eps = row["per_seed"][0]["epsilon_by_round"]
            row.update(nodes=nodes, sample_fraction=fraction, sigma=sigma)
            row.update(epsilon_early=eps[EARLY_ROUND - 1], epsilon=eps[-1])
            rows.append(row)
    return rows


def compression_table(lab: Lab, s: Json) -> list[Json]:
    _with(lab, nodes=s["nodes"], rounds=s["rounds"])
    return [lab.row(name, compression=name) for name in s["compressions"]]


def secagg_table(lab: Lab, s: Json) -> list[Json]:
    _with(lab, nodes=s["nodes"], rounds=s["rounds"])
    return [
        lab.row("plain FedAvg"),
        lab.row("secure aggregation", secure_aggregation=True),
        lab.row("secure aggregation, 20% dropout", secure_aggregation=True, dropout=0.2),
    ]


def _eps(value: float | None) -> str:
    return "none (inf)" if value is None else f"{value:.2f}"


def markdown(result: Json) -> str:
    s = result["settings"]
    out = [
        f"(a) Differential privacy: DP-FedAvg, clip C = {s['dp_clip']}, Poisson sampling, "
        f"{s['dp_rounds']} rounds, seeds {s['seeds']} (median, min-max)",
        "",
        f"| factories | sampled / round | sigma | epsilon @{EARLY_ROUND} | epsilon "
        f"@{s['dp_rounds']} | RMSE | late-life RMSE | profit % of oracle |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["privacy"]:
        sigma = "no DP" if r["sigma"] is None else f"{r['sigma']:g}"
        early = "-" if r["sigma"] is None else _eps(r.get("epsilon_early"))
        last = "-" if r["sigma"] is None else _eps(r.get("epsilon"))
        out.append(
            f"| {r['nodes']} | {r['sample_fraction']:.1%} | {sigma} | {early} | {last} | "
            f"{fmt(r.get('rmse'))} | "
            f"{fmt(r.get('late_life_rmse'))} | {fmt(r.get('percent_of_oracle'), 1)} |"
        )
    out += [
        "",
        f"(b) Compression of the updates, {s['nodes']} factories, {s['rounds']} rounds",
        "",
        "| encoding | KB up per round | RMSE | late-life RMSE | profit % of oracle |",
        "|---|---|---|---|---|",
    ]
    for r in result["compression"]:
        kb = r["per_seed"][0]["bytes_up_per_round"] / 1000
        out.append(
            f"| {r['name']} | {kb:.1f} | {fmt(r.get('rmse'))} | {fmt(r.get('late_life_rmse'))} "
            f"| {fmt(r.get('percent_of_oracle'), 1)} |"
        )
    out += [
        "",
        f"(c) Secure aggregation, {s['nodes']} factories, {s['rounds']} rounds",
        "",
        "| run | KB up per round | KB down per round | RMSE | late-life RMSE | profit % of oracle |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["secure_aggregation"]:
        p = r["per_seed"][0]
        out.append(
            f"| {r['name']} | {p['bytes_up_per_round'] / 1000:.1f} | "
            f"{p['bytes_down_per_round'] / 1000:.1f} | {fmt(r.get('rmse'))} | "
            f"{fmt(r.get('late_life_rmse'))} | {fmt(r.get('percent_of_oracle'), 1)} |"
        )
    return "\n".join(out)


def parse(argv: list[str] | None) -> argparse.Namespace:
    d = README_SETTINGS
    p = argparse.ArgumentParser(prog="python -m bench.privacy", description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=d["seeds"])
    p.add_argument("--model", choices=("window", "ff09"), default=d["model"])
    p.add_argument("--sigmas", type=float, nargs="+", default=d["sigmas"])
    p.add_argument("--dp-rounds", type=int, default=d["dp_rounds"])
    p.add_argument(
        "--dp-federations",
        type=lambda v: [int(v.split(":")[0]), float(v.split(":")[1])],
        nargs="+",
        default=d["dp_federations"],
        help="NODES:SAMPLE_FRACTION of table (a), e.g. 80:0.25 800:0.025",
    )
    p.add_argument("--dp-clip", type=float, default=d["dp_clip"])
    p.add_argument("--rounds", type=int, default=d["rounds"])
    p.add_argument("--nodes", type=int, default=d["nodes"])
    p.add_argument("--compressions", nargs="+", default=d["compressions"])
    p.add_argument("--out", type=Path, default=SCRATCH, help="untracked output folder")
    p.add_argument("--publish", action="store_true", help="also write bench/results/privacy.json")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> Json:
    args = parse(argv)
    settings = {k: getattr(args, k) for k in README_SETTINGS}
    stamp = produced()
    stamp["command"] = " ".join(
        ["python -m bench.privacy", *(sys.argv[1:] if argv is None else argv)]
    )
    start = time.perf_counter()
    print(f"Privacy and communication benchmark: {settings}")
    lab = Lab({"seeds": settings["seeds"], "model": settings["model"]})
    result: Json = {"produced": stamp, "machine": machine(), "settings": settings}
    tables = {
        "privacy": privacy_table,
        "compression": compression_table,
        "secure_aggregation": secagg_table,
    }
    play_tables(
        lab, result, {n: partial(t, lab, settings) for n, t in tables.items()}, markdown, start
    )
    published = RESULTS if args.publish else None
    write_tables("privacy", result, args.out, published, settings, README_SETTINGS)
    return result


if __name__ == "__main__":
    main()

"""How far the chosen federated setting sits from the centralized model, on validation engines.

    python -m bench.selection_check [--splits 5] [--out runs/bench] [--publish]

`bench.selection` judges a setting on one or two validation splits, and 20 FD001 engines make a
noisy judge. This check repeats the FedAvg baseline (local Adam 3e-3), the window family's
chosen setting (`FAMILY_DEFAULTS`) and the centralized model at both local steps on `--splits`
random validation splits (seeds 0, 1, ...) of both selection protocols, at 50/100/150 rounds.
Still validation engines only: it reads no test engine. Writes `selection_check.json` to `--out`,
and with `--publish` to `bench/results/`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.record import RESULTS, machine, produced
from bench.selection import (
    BASE_LR,
    CRITERION,
    ROUNDS,
    Setting,
    protocols,
    run_centralized,
    run_setting,
)
from fl_engine.data import resolve_data_dir
from fl_engine.factory_types import FAMILY_DEFAULTS

Json = dict[str, Any]


def chosen() -> Setting:
    d = FAMILY_DEFAULTS["window"]
    fields = ("server_optimizer", "server_lr", "server_momentum", "lr", "local_epochs")
    return Setting(**{k: d[k] for k in fields if k in d})


def check(splits: int) -> Json:
    torch.set_num_threads(1)
    settings = [Setting(lr=BASE_LR), chosen()]
    lrs = sorted({BASE_LR, chosen().lr})
    rows: list[Json] = []
    for seed in range(splits):
        for p in protocols(resolve_data_dir(), seed):
            row: Json = {"protocol": p.name, "seed": seed}
            row["centralized"] = {str(lr): run_centralized(p, lr) for lr in lrs}
            row["federated"] = {s.label(): run_setting(p, s, ROUNDS)["by_rounds"] for s in settings}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return {"splits": rows, "summary": summarize(rows, settings, lrs)}


def summarize(rows: list[Json], settings: list[Setting], lrs: list[float]) -> Json:
    """Mean over splits of each protocol's criterion and capped RMSE, per model and rounds."""
    out: Json = {}
    for name in CRITERION:
        mine = [r for r in rows if r["protocol"] == name]
        table: Json = {}
        for measure in (CRITERION[name], "capped_rmse"):
            col = {
                f"centralized, adam {lr:g}": float(
                    np.mean([r["centralized"][str(lr)][measure] for r in mine])
                )
                for lr in lrs
            }
            for s in settings:
                for k in map(str, ROUNDS):
                    col[f"{s.label()} @ {k}"] = float(
                        np.mean([r["federated"][s.label()][k][measure] for r in mine])
                    )
            table[measure] = col
        out[name] = table
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    parser.add_argument("--publish", action="store_true", help="also write bench/results/")
    args = parser.parse_args()
    start = time.perf_counter()
    result = check(args.splits)
    publish = " --publish" if args.publish else ""
    command = f"python -m bench.selection_check --splits {args.splits}{publish}"
    doc = {
        "produced": {**produced(), "command": command},
        "machine": machine(),
        **result,
        "seconds": time.perf_counter() - start,
    }
    for folder in [args.out] + ([RESULTS] if args.publish else []):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "selection_check.json").write_text(json.dumps(doc, indent=1) + "\n")
    for name, table in result["summary"].items():
        for measure, col in table.items():
            print(f"{name} {measure}")
            for label, value in col.items():
                print(f"  {label:50} {value:6.2f}")
    print(f"wrote {args.out / 'selection_check.json'}")


if __name__ == "__main__":
    main()

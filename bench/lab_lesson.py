"""The Lab's attack lesson in dollars, under both decisions: does a defended model earn more?

    .venv/bin/python -m bench.lab_lesson [--seeds 0 1 2] [--publish]

For each seed: clean FedAvg, FedAvg and the coordinate-wise median under 20% boosted (x10)
attackers, and the clean median; 80 nodes, 20 rounds, window model. Each model is deployed into
the game (`app.lab_bridge`: the held-out engines, default game settings, 10 draw seeds) and
scored under the calibrated decision (its own margin, from its nodes' summed residual counts)
and under FF09's raw rule. Writes runs/bench/lab_lesson.json; `--publish` also
bench/results/lab_lesson.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any

import torch

from bench.record import RESULTS, ROOT, machine, produced

RUNS: dict[str, dict[str, Any]] = {
    "clean fedavg": {},
    "boosted fedavg": {"attack": "scale", "attackers": 0.2},
    "boosted median": {"aggregation": "median", "attack": "scale", "attackers": 0.2},
    "clean median": {"aggregation": "median"},
}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--publish", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    from app.bridge import load_game_models
    from app.game.settings import GameSettings
    from app.lab_bridge import deployed_traces, percent_of_oracle
    from app.web.settings import Settings
    from fl_engine.data import load_runs, resolve_data_dir
    from fl_engine.lab import new_lab_run
    from fl_engine.lab.config import LabConfig

    runs = load_runs(resolve_data_dir(None))
    traces = load_game_models(Settings()).traces
    rows: dict[str, dict[str, float]] = {}
    for seed in args.seeds:
        for name, changes in RUNS.items():
            run = new_lab_run(runs, LabConfig(nodes=80, rounds=20, seed=seed, **changes))
            run.run()
            final = run.final()
            pool = deployed_traces(list(traces), run, runs)
            row = {
                "late_life_rmse": final["late_life_rmse"],
                "capped_rmse": final["capped_rmse"],
                "margin": run.calibration().margin,
                "calibrated": percent_of_oracle(pool, GameSettings()),
                "raw": percent_of_oracle(pool, GameSettings(decision="raw")),
            }
            rows[f"{seed} {name}"] = row
            print(seed, name, {k: round(v, 2) for k, v in row.items()}, flush=True)
    gaps = {
        decision: [
            rows[f"{s} boosted median"][decision] - rows[f"{s} boosted fedavg"][decision]
            for s in args.seeds
        ]
        for decision in ("calibrated", "raw")
    }
    result = {
        "produced": produced(),
        "machine": machine(),
        "seeds": args.seeds,
        "runs": rows,
        "median_minus_fedavg_under_attack": {
            d: {"by_seed": g, "median": statistics.median(g)} for d, g in gaps.items()
        },
    }
    for folder in [ROOT / "runs" / "bench", *([RESULTS] if args.publish else [])]:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "lab_lesson.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()

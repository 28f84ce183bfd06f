"""Which window setting is safest under the game's calibrated rule, on validation engines only.

    python -m bench.money_check [--splits 3] [--out runs/bench]

The game maintains an engine at the first cycle where `prediction - margin < rul_threshold` (10),
the margin being the 90% quantile of the model's own residuals (prediction - true RUL) over its
training cycles with true RUL <= 30 (`fl_engine.calibration`, in-sample as the game measures it).
A late-life RMSE does not say how often that rule lets an engine fail, and a failure costs six
maintenances. This check trains, on the game's selection protocol only
(`fl_engine.validation.validation_protocol`, seeds 0..splits-1), the federated model of:

- (a) FedAvg, local Adam 3e-3, 50 rounds, and (b) the same at 100 rounds (one run, read at both);
- (c) FedAdam server 0.1, local Adam 1e-3, 100 rounds (`FAMILY_DEFAULTS` at the time of writing);
- (d) FedAdam server 0.03, local Adam 3e-3, 100 rounds;

and, for reference, the centralized model (20 epochs, batch 512, Adam 3e-3 and 1e-3). For each:
the margin on the FIT engines (in-sample, as the game does), then on the validation engines that
ran to failure the game's calibrated fate of each engine (`app.game.fleet.predictive_fates`):
maintained before/at its last cycle, or failed; the failures, and the mean cycles maintained
before the last one ("early cycles", over the engines maintained); plus the late-life RMSE.
Reads no test engine: the protocol's `Runs` holds the game's training engines only.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from app.game.fleet import predictive_fates
from app.game.settings import GameSettings
from bench.record import machine, produced
from bench.selection import SEED, Protocol, Setting, selection_protocol
from fl_engine.calibration import CalibrationSpec, calibration_of, residual_histogram
from fl_engine.data import load_runs, resolve_data_dir
from fl_engine.factory_calibration import model_predictions
from fl_engine.validation import (
    VALIDATION_FRACTION,
    game_training_engines,
    train_one_stage,
    validation_protocol,
)

Json = dict[str, Any]

# label -> (setting, rounds read from one run)
FEDERATED: dict[str, tuple[Setting, tuple[int, ...]]] = {
    "fedavg, adam 3e-3": (Setting("fedavg", lr=3e-3), (50, 100)),
    "fedadam 0.1, adam 1e-3": (Setting("fedadam", server_lr=0.1, lr=1e-3), (100,)),
    "fedadam 0.03, adam 3e-3": (Setting("fedadam", server_lr=0.03, lr=3e-3), (100,)),
}
CENTRALIZED_LRS = (3e-3, 1e-3)
GAME = GameSettings()
FAILURE_LOSS = (
    GAME.failure_cost
    - GAME.maintenance_cost
    + (GAME.failure_downtime - GAME.maintenance_downtime) * GAME.revenue_per_cycle
)


def game_protocol(seed: int) -> Protocol:
    """The game's selection run (as `bench.selection.protocols`, without FD001's)."""
    runs = load_runs(resolve_data_dir())
    pool = game_training_engines(runs.n_engines, 80, SEED)
    return selection_protocol(
        "game", seed, validation_protocol(runs, pool, seed, VALIDATION_FRACTION)
    )


def evaluate(p: Protocol, params: torch.Tensor, spec: CalibrationSpec, threshold: float) -> Json:
    """Margin (fit engines, in-sample), calibrated fates on run-to-failure validation engines,
    late-life RMSE on validation engines, of the model params [1, n_params]."""
    data = p.data
    family = p.validation.family
    target = family.target_scale(data)
    # (1) margin: the game's in-sample calibration over the fit engines (the server's summed
    # histogram equals the histogram over every fit engine, the factories' deal covering them all)
    pred, true, _ = model_predictions(data, family, target, params, data.train_engines, spec)
    counts = residual_histogram(pred[0], true, CalibrationSpec(spec.level, np.inf))
    cal = calibration_of(counts, spec, "in-sample")
    # (2) every cycle of every validation engine, in the order of data.test_engines
    with torch.no_grad():
        every = target.to_cycles(family.predict(params, p.validation.inputs))[0]
    lengths = [len(data.engine_rows[e]) for e in data.test_engines]
    per_engine = np.split(every, np.cumsum(lengths)[:-1])
    rtf = [i for i, e in enumerate(data.test_engines) if data.runs.run_to_failure[e]]
    n = np.array([lengths[i] for i in rtf], dtype=np.int64)
    cycles, maintained = predictive_fates(
        [per_engine[i][None] for i in rtf], n, threshold, np.array([cal.margin])
    )
    early = (n - cycles[0])[maintained[0]]
    ids = data.runs.engine_ids
    score = p.validation.score(every)
    return {
        "margin": cal.margin,
        "margin_rows": cal.rows,
        "run_to_failure_engines": len(rtf),
        "failures": int((~maintained[0]).sum()),
        "failed_engines": [
            ids[data.test_engines[i]] for i, m in zip(rtf, maintained[0], strict=True) if not m
        ],
        "early_cycles_mean": float(early.mean()) if len(early) else None,
        "early_cycles_sum": int(early.sum()),
        "early_cycles": [int(x) for x in n - cycles[0]],
        **asdict(score),
    }


def check(splits: int, log: Any = print, first: int = 0) -> Json:
    torch.set_num_threads(1)
    threshold = GAME.rul_threshold
    spec = CalibrationSpec()
    rows: list[Json] = []
    for seed in range(first, first + splits):
        p = game_protocol(seed)
        family = p.validation.family
        row: Json = {"seed": seed, "protocol": p.describe(), "models": {}, "seconds": {}}
        for label, (setting, rounds) in FEDERATED.items():
            kept: dict[int, torch.Tensor] = {}

            def on_round(done: int, params: torch.Tensor) -> None:
                if done in rounds:  # noqa: B023 - called within this iteration only
                    kept[done] = params[:1].detach().clone()  # noqa: B023

            start = time.perf_counter()
            train_one_stage(p.data, family, p.config(setting, rounds[-1]), "federated", on_round)
            row["seconds"][label] = time.perf_counter() - start
            for r in rounds:
                name = f"{label}, {r} rounds"
                row["models"][name] = evaluate(p, kept[r], spec, threshold)
                log(f"seed {seed} {name:40} {_line(row['models'][name])}")
            log(f"  ({row['seconds'][label]:.0f} s)")
        for lr in CENTRALIZED_LRS:
            name = f"centralized, adam {lr:g}"
            cfg = p.config(Setting(lr=lr), 100)
            start = time.perf_counter()
            result = train_one_stage(p.data, family, cfg, "centralized")
            row["seconds"][name] = time.perf_counter() - start
            row["models"][name] = evaluate(p, result.params[:1], spec, threshold)
            row["models"][name]["epochs"] = cfg.centralized_epochs
            row["models"][name]["batch_size"] = cfg.centralized_batch_size
            log(
                f"seed {seed} {name:40} {_line(row['models'][name])}  ({row['seconds'][name]:.0f} s)"
            )
        rows.append(row)
    return {"splits": rows, "summary": summarize(rows)}


def _line(m: Json) -> str:
    early = m["early_cycles_mean"]
    return (
        f"fail {m['failures']}/{m['run_to_failure_engines']}  early "
        f"{early if early is None else round(early, 1)}  margin {m['margin']:.2f}  "
        f"late {m['late_life_rmse']:.2f}"
    )


def summarize(rows: list[Json]) -> Json:
    """Per model: failures summed over splits / run-to-failure validation engines, early cycles
    per maintained engine over all splits, mean margin and late-life RMSE; ranked by money
    (fewest failures, then fewest early cycles)."""
    out: Json = {}
    for name in rows[0]["models"]:
        ms = [r["models"][name] for r in rows]
        maintained = sum(m["run_to_failure_engines"] - m["failures"] for m in ms)
        out[name] = {
            "failures": sum(m["failures"] for m in ms),
            "run_to_failure_engines": sum(m["run_to_failure_engines"] for m in ms),
            "failures_per_split": [m["failures"] for m in ms],
            "early_cycles_mean": sum(m["early_cycles_sum"] for m in ms) / max(maintained, 1),
            "margin_mean": float(np.mean([m["margin"] for m in ms])),
            "margins": [m["margin"] for m in ms],
            "late_life_rmse_mean": float(np.mean([m["late_life_rmse"] for m in ms])),
            # rough dollars lost against the oracle (maintain on the last cycle), per validation
            # run-to-failure engine: a failure costs the failure less a maintenance plus its
            # longer downtime in lost cycles, an early cycle one cycle's revenue
            "dollars_lost_per_engine": sum(
                m["failures"] * FAILURE_LOSS + m["early_cycles_sum"] * GAME.revenue_per_cycle
                for m in ms
            )
            / sum(m["run_to_failure_engines"] for m in ms),
        }
    ranking = sorted(out, key=lambda k: (out[k]["failures"], out[k]["early_cycles_mean"]))
    return {"models": out, "ranking": ranking}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="splits are seeds first, ...")
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        help="no training: summarize these money_check.json together",
    )
    args = parser.parse_args()
    start = time.perf_counter()
    if args.merge:
        rows = [r for f in args.merge for r in json.loads(f.read_text())["splits"]]
        result: Json = {
            "splits": rows,
            "summary": summarize(rows),
            "merged": [str(f) for f in args.merge],
        }
    else:
        result = check(args.splits, lambda line: print(line, flush=True), args.first_seed)
    doc = {
        "produced": {
            **produced(),
            "command": "python -m bench.money_check "
            + (
                "--merge " + " ".join(map(str, args.merge))
                if args.merge
                else f"--splits {args.splits} --first-seed {args.first_seed}"
            ),
        },
        "machine": machine(),
        "rule": "maintain at the first cycle where prediction - margin < rul_threshold (10); "
        "margin: 90% quantile of residuals with true RUL <= 30 over the fit engines, in-sample",
        **result,
        "seconds": time.perf_counter() - start,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "money_check.json").write_text(json.dumps(doc, indent=1) + "\n")
    models = result["summary"]["models"]
    print(f"{'model':42} {'failures':>9} {'early':>6} {'margin':>7} {'late RMSE':>9} {'$ lost':>7}")
    for name in result["summary"]["ranking"]:
        m = models[name]
        print(
            f"{name:42} {m['failures']:>4}/{m['run_to_failure_engines']:<4} "
            f"{m['early_cycles_mean']:6.1f} {m['margin_mean']:7.2f} {m['late_life_rmse_mean']:9.2f} "
            f"{m['dollars_lost_per_engine']:7.0f}"
        )
    print(f"wrote {args.out / 'money_check.json'}")


if __name__ == "__main__":
    main()

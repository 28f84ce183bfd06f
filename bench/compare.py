"""Compare benchmark: federated against every factory's local model, and how fast it is computed.

Trains (or loads from `runs/bench/models/`) the game's window models for each seed, then times
the vectorized fleet simulation of 80 factories x every policy x 5 seeds x 5,000 ticks once
the models exist (the issue's target: <= 5 s on 2 cores), against the tick-by-tick step function
on a few policies of one seed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from app.bridge import game_models_for
from app.game.analysis import compare_policies
from app.game.compare import Summary, compare_seed, summarize
from app.game.settings import GameSettings
from fl_engine.data import load_runs, resolve_data_dir

Json = dict[str, Any]


def compare_bench(seeds: list[int], ticks: int, models_dir: Path, console: Console) -> Json:
    """Both decisions on the same models: calibrated (the game's) and raw (FF09's rule)."""
    runs = load_runs(resolve_data_dir())
    settings = GameSettings()
    pools = {s: list(game_models_for(runs, models_dir, s, "window", console).traces) for s in seeds}
    start = time.perf_counter()
    results = [compare_seed(pools[s], settings, s, ticks) for s in seeds]
    summary = summarize(results)
    vectorized_s = time.perf_counter() - start
    raw_settings = GameSettings(decision="raw")
    raw = summarize([compare_seed(pools[s], raw_settings, s, ticks) for s in seeds])
    n_policies = 3 + len(results[0].percent_of_oracle) - 2 + len(results[0].local_by_factory)
    start = time.perf_counter()
    reference = ("corrective", "preventative", "federated", "oracle")
    compare_policies(pools[seeds[0]], settings, seed=seeds[0], n_ticks=ticks, policies=reference)
    step_s_per_factory = (time.perf_counter() - start) / len(reference)
    table = Table(title=f"Profit as % of the oracle (window models, {ticks:,} ticks per seed)")
    for column in (
        "seed",
        "corrective",
        "preventative",
        "centralized",
        "federated",
        "local median",
        "failures: centralized / federated / local median",
        "raw rule: centralized / federated / local median",
    ):
        table.add_column(column, justify="right")
    for r, plain in zip(results, raw.seeds, strict=True):
        p, f, q = r.percent_of_oracle, r.failures, plain.percent_of_oracle
        table.add_row(
            str(r.seed),
            *(f"{p[k]:.1f}" for k in ("corrective", "preventative", "centralized", "federated")),
            f"{np.median(r.local_by_factory):.1f}",
            f"{f['centralized']:.0f} / {f['federated']:.0f} / {f['local_median']:.1f}",
            f"{q['centralized']:.1f} / {q['federated']:.1f} / "
            f"{np.median(plain.local_by_factory):.1f}",
        )
    console.print(table)
    lo, hi = summary.ci95
    console.print(
        f"federated - local: {summary.mean:+.1f} points (95% CI {lo:+.1f} to {hi:+.1f}); "
        f"federated beats {100 * summary.share_federated_beats_local:.0f}% of local models; "
        f"{len(seeds)} seeds x {n_policies} policies x {ticks:,} ticks in {vectorized_s:.2f} s "
        f"(step function: {step_s_per_factory:.2f} s per factory and seed)"
    )
    return {
        "model": "window",
        "seeds": seeds,
        "ticks": ticks,
        "policies_per_seed": n_policies,
        "vectorized_seconds": vectorized_s,
        "step_function_seconds_per_factory_seed": step_s_per_factory,
        "step_function_estimate_seconds": step_s_per_factory * n_policies * len(seeds),
        "decision": settings.decision,
        **summary.to_json(),
        "targets": targets(summary),
        "raw": {"decision": "raw", **raw.to_json()},
    }


def targets(summary: Summary) -> dict[str, bool]:
    """Issue 18's targets on the calibrated decision (README, 'Does federated beat local?')."""
    return {
        "federated_within_2_points_of_centralized_every_seed": all(
            s.percent_of_oracle["federated"] >= s.percent_of_oracle["centralized"] - 2.0
            for s in summary.seeds
        ),
        "federated_failures_at_most_1_every_seed": all(
            s.failures["federated"] <= 1 for s in summary.seeds
        ),
        "federated_minus_local_at_least_40": summary.mean >= 40.0,
        "interval_lower_end_above_35": summary.ci95[0] > 35.0,
    }

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
from app.game.compare import compare_seed, summarize
from app.game.settings import GameSettings
from fl_engine.data import load_runs, resolve_data_dir

Json = dict[str, Any]


def compare_bench(seeds: list[int], ticks: int, models_dir: Path, console: Console) -> Json:
    runs = load_runs(resolve_data_dir())
    settings = GameSettings()
    pools = {s: list(game_models_for(runs, models_dir, s, "window", console).traces) for s in seeds}
    start = time.perf_counter()
    results = [compare_seed(pools[s], settings, s, ticks) for s in seeds]
    summary = summarize(results)
    vectorized_s = time.perf_counter() - start
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
    ):
        table.add_column(column, justify="right")
    for r in results:
        p = r.percent_of_oracle
        table.add_row(
            str(r.seed),
            *(f"{p[k]:.1f}" for k in ("corrective", "preventative", "centralized", "federated")),
            f"{np.median(r.local_by_factory):.1f}",
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
        "seeds": seeds,
        "ticks": ticks,
        "policies_per_seed": n_policies,
        "vectorized_seconds": vectorized_s,
        "step_function_seconds_per_factory_seed": step_s_per_factory,
        "step_function_estimate_seconds": step_s_per_factory * n_policies * len(seeds),
        **summary.to_json(),
    }

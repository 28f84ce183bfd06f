"""Every round of a seeded Flower run, plain, under DP-FedAvg or under SecAgg+.

Apart from `seeded` because the DP and SecAgg+ runners build on `SeededFedAvg`: choosing among
them here keeps the imports one way (seeded <- privacy, secure <- this module).
"""

from __future__ import annotations

from typing import Any

from flwr.app import ArrayRecord, Context
from flwr.serverapp import Grid

from fl_engine.flower.privacy import ProjectDPFixedClipping
from fl_engine.flower.secure import run_secagg_rounds
from fl_engine.flower.seeded import EvaluateFn, SeededFedAvg


def run_rounds(
    strategy: SeededFedAvg,
    grid: Grid,
    context: Context,
    initial: ArrayRecord,
    evaluate: EvaluateFn,
) -> ArrayRecord:
    """Every round on `grid`; the final global model."""
    settings = strategy.settings
    if settings.secure_aggregation:
        return run_secagg_rounds(strategy, grid, context, initial, evaluate)
    runner: Any = strategy
    if settings.dp_noise > 0:
        runner = ProjectDPFixedClipping(strategy)
    result = runner.start(
        grid=grid,
        initial_arrays=initial,
        num_rounds=settings.rounds,
        timeout=settings.round_timeout,
        evaluate_fn=evaluate,
    )
    arrays: ArrayRecord = result.arrays
    return arrays

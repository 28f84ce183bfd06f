"""Many factories at once: the rule book in closed form, vectorized over factories with numpy.

Under a fixed policy a slot's life is a chain of engines, and each engine's fate is decided by the
policy alone: it runs `c` cycles (earning 250 c), then is maintained (-10,000, 20 ticks down) or
fails (-60,000, 60 ticks down), so it holds the slot for exactly `c + downtime` ticks. With fair
draws every factory's slot i deals the same engine sequence, so a factory's profit after T ticks
is a sum over its slots' chains cut at T, which numpy computes for thousands of factories at once.

`app.game.simulation.step`, one tick at a time, stays the reference: a test holds the two equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from app.game.draws import draw_engine
from app.game.engines import EngineTrace, FloatArray
from app.game.settings import GameSettings

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Fates:
    """What a policy does with every engine of the pool: cycles run, and maintained or failed."""

    cycles: IntArray  # [policies, engines] cycles run before leaving the slot (>= 1)
    maintained: BoolArray  # [policies, engines] True: maintained; False: failed


@dataclass(frozen=True)
class FleetResult:
    """Totals per policy after the run, as `FactoryState` books them."""

    profit: FloatArray  # [policies]
    active_cycles: IntArray  # [policies]
    maintenances: IntArray  # [policies]
    failures: IntArray  # [policies]


def predictive_fates(
    predictions: Sequence[FloatArray],
    lengths: IntArray,
    threshold: float,
    margins: FloatArray | None = None,
) -> tuple[IntArray, BoolArray]:
    """Maintain at the first cycle whose predicted RUL minus the model's margin is below
    `threshold`; else fail at the end.

    `predictions[e]` is [models, cycles of engine e]: every model's RUL at every cycle;
    `margins` [models] what each model's decision subtracts (None: 0, the raw rule).
    """
    n_models = predictions[0].shape[0]
    subtract = np.zeros(n_models) if margins is None else np.asarray(margins, dtype=np.float64)
    if subtract.shape != (n_models,):
        raise ValueError(f"{subtract.shape} margins for {n_models} models")
    cycles = np.empty((n_models, len(predictions)), dtype=np.int64)
    maintained = np.empty((n_models, len(predictions)), dtype=bool)
    for e, rul in enumerate(predictions):
        bound = np.asarray(rul, dtype=np.float64) - subtract[:, None]  # [models, cycles]
        below = bound < threshold
        first = below.argmax(axis=1)
        hit = below[np.arange(n_models), first]  # maintained (on the last cycle too)
        cycles[:, e] = np.where(hit, first + 1, lengths[e])
        maintained[:, e] = hit
    return cycles, maintained


def baseline_fates(
    policy: str, lengths: IntArray, settings: GameSettings
) -> tuple[IntArray, BoolArray]:
    """Fates of the policies that need no model: corrective, preventative and the oracle."""
    if policy == "corrective":
        return lengths.copy(), np.zeros(len(lengths), dtype=bool)
    if policy == "preventative":
        at = settings.preventative_cycle
        return np.minimum(lengths, at), lengths >= at
    if policy == "oracle":
        return lengths.copy(), np.ones(len(lengths), dtype=bool)
    raise ValueError(
        f"{policy!r} needs predictions; baselines are corrective, preventative, oracle"
    )


def engine_lengths(pool: Sequence[EngineTrace]) -> IntArray:
    return np.array([t.n_cycles for t in pool], dtype=np.int64)


def _deals(seed: int, slot: int, n_draws: int, pool_size: int, n_slots: int) -> IntArray:
    """The first `n_draws` engines of a slot's fair deck (the same for every factory)."""
    return np.array(
        [draw_engine(seed, True, 0, slot, d, pool_size, n_slots) for d in range(n_draws)],
        dtype=np.int64,
    )


def simulate_fleet(fates: Fates, settings: GameSettings, seed: int, n_ticks: int) -> FleetResult:
    """Play `n_ticks` ticks of one factory per policy on fair draws; totals per policy."""
    cycles, maintained = fates.cycles, fates.maintained
    n_policies, pool_size = cycles.shape
    down = np.where(maintained, settings.maintenance_downtime, settings.failure_downtime)
    cost = np.where(maintained, settings.maintenance_cost, settings.failure_cost)
    hold = cycles + down  # [policies, engines] ticks an engine holds its slot
    # Enough draws that every chain passes n_ticks: each engine holds its slot >= 1 tick.
    n_draws = int(min(n_ticks, np.ceil(n_ticks / max(1, int(hold.min()))))) + 1
    profit = np.zeros(n_policies)
    active = np.zeros(n_policies, dtype=np.int64)
    n_maint = np.zeros(n_policies, dtype=np.int64)
    n_fail = np.zeros(n_policies, dtype=np.int64)
    rows = np.arange(n_policies)[:, None]
    for slot in range(settings.n_slots):
        deal = _deals(seed, slot, n_draws, pool_size, settings.n_slots)  # [draws]
        held = hold[:, deal]  # [policies, draws]
        start = np.cumsum(held, axis=1) - held  # ticks done before each draw starts
        elapsed = np.clip(n_ticks - start, 0, None)  # ticks of each draw within the run
        run = np.minimum(elapsed, cycles[:, deal])  # cycles each draw ran
        ended = elapsed >= cycles[:, deal]  # its last cycle ran: its cost is booked
        was_maintained = maintained[rows, deal]
        active += run.sum(axis=1)
        n_maint += (ended & was_maintained).sum(axis=1)
        n_fail += (ended & ~was_maintained).sum(axis=1)
        profit += run.sum(axis=1) * settings.revenue_per_cycle
        profit -= (ended * cost[rows, deal]).sum(axis=1)
    return FleetResult(profit=profit, active_cycles=active, maintenances=n_maint, failures=n_fail)


def percent_of_oracle(profit: FloatArray, oracle: float) -> npt.NDArray[Any]:
    """Profit as a percentage of the oracle's (NaN if the oracle made no profit)."""
    if oracle <= 0:
        return np.full_like(profit, np.nan, dtype=float)
    return 100.0 * profit / oracle

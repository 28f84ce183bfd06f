"""How good is each strategy? A long, seeded, fair-draws run of one factory per policy.

This answers the question the game asks (does federated beat local?) without a browser or a
player: every policy, the oracle included, plays the same engines in the same order under the
same rules, so the profit gaps come from the maintenance decisions alone. The oracle, which
knows each engine's true remaining life, is the yardstick: profits are also reported as a
percentage of its profit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.game.engines import EngineTrace
from app.game.settings import GameSettings
from app.game.simulation import advance_factory, new_factory
from app.game.state import FactoryState
from app.game.strategies import POLICIES


@dataclass(frozen=True)
class PolicyResult:
    """One policy's score over the run."""

    policy: str
    profit: float
    active_cycles: int
    maintenances: int
    failures: int
    percent_of_oracle: float | None  # None when the oracle did not run or made no profit


def compare_policies(
    pool: Sequence[EngineTrace],
    settings: GameSettings,
    *,
    seed: int = 0,
    n_ticks: int = 20_000,
    policies: Sequence[str] = POLICIES,
) -> list[PolicyResult]:
    """Run one factory per policy for `n_ticks` ticks on fair draws and score them."""
    factories: list[FactoryState] = [
        new_factory(policy, policy, i, pool, settings, seed, fair_draws=True)
        for i, policy in enumerate(policies)
    ]
    for tick in range(1, n_ticks + 1):
        factories = [
            advance_factory(f, tick, pool, settings, seed, fair_draws=True)[0] for f in factories
        ]
    oracle = next((f.profit for f in factories if f.strategy == "oracle"), None)
    return [
        PolicyResult(
            policy=f.strategy,
            profit=f.profit,
            active_cycles=f.active_cycles,
            maintenances=f.maintenances,
            failures=f.failures,
            percent_of_oracle=100.0 * f.profit / oracle if oracle and oracle > 0 else None,
        )
        for f in factories
    ]

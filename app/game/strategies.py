"""The maintenance strategies: when does a factory send an engine to maintenance?

A strategy looks at exactly one thing: the cycle its engine has just run (its number and that
cycle's predicted RUL), and answers "maintain now?". It is asked once per running cycle, right
after the cycle ran (see `app.game.simulation` for the full tick order).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.game.engines import EngineTrace
from app.game.policies import ORACLE, POLICIES, STRATEGIES, StrategyName
from app.game.settings import GameSettings

__all__ = ["ORACLE", "POLICIES", "STRATEGIES", "StrategyInfo", "StrategyName", "strategy_infos"]


@dataclass(frozen=True)
class StrategyInfo:
    """What the dashboard shows about a strategy."""

    name: StrategyName
    label: str
    description: str
    unlock_hint: str


def strategy_infos(settings: GameSettings) -> list[StrategyInfo]:
    """Labels and texts with this game's figures, so the UI never repeats a number by hand."""
    return [
        StrategyInfo(
            "corrective",
            "Corrective",
            "Never maintain: run every engine until it fails "
            f"(${settings.failure_cost:,.0f} and {settings.failure_downtime} cycles down).",
            "Available from the start.",
        ),
        StrategyInfo(
            "preventative",
            "Preventative",
            f"Maintain every engine after cycle {settings.preventative_cycle}, "
            "whatever its condition.",
            f"Unlocks after {settings.failures_to_unlock_preventative} failures in your factory.",
        ),
        StrategyInfo(
            "local",
            "Local predictive",
            f"Maintain when your own factory's model predicts fewer than "
            f"{settings.rul_threshold:g} cycles of remaining useful life"
            + _margin_clause(settings, "your four engines")
            + ".",
            "Unlocks when you hire a data scientist (offered at your next maintenance or failure after preventative unlocks).",
        ),
        StrategyInfo(
            "federated",
            "Federated predictive",
            f"Maintain when the federated model, trained across all factories without sharing "
            f"their data, predicts fewer than {settings.rul_threshold:g} cycles of remaining "
            "useful life" + _margin_clause(settings, "every factory's engines") + ".",
            f"Unlocks when you accept the federation offer, which arrives after "
            f"{settings.federation_offer_after_cycles} ticks on local predictive.",
        ),
    ]


def _margin_clause(settings: GameSettings, engines: str) -> str:
    """How the calibrated decision reads the prediction, in words."""
    if settings.decision == "raw":
        return ""
    return (
        f", counting from the prediction minus the model's margin (how far it ran above the "
        f"truth late in life on {engines}, 9 times in 10)"
    )


def should_maintain(
    policy: str, trace: EngineTrace, cycle: int, settings: GameSettings, node: int = 0
) -> bool:
    """Whether `policy` sends `trace` to maintenance after it has run `cycle` (1-based).

    Comparisons are `>=` / `<` rather than `==` so that a strategy switched on mid-engine (past
    cycle 193, or below the RUL threshold already) maintains at once instead of never.
    Predictive policies read `prediction - margin` under the calibrated decision (the model's
    lower bound on the RUL; `EngineTrace.margin`) and the prediction itself under the raw one.
    The oracle knows the true RUL (`n_cycles - cycle`) and maintains on the last cycle before
    the failure, which is the most profitable moment under these rules. `node` is the deciding
    factory's place in the federation: "local" asks that factory's own model.
    """
    row = cycle - 1
    if policy == "corrective":
        return False
    if policy == "preventative":
        return cycle >= settings.preventative_cycle
    if policy == "local":
        margin = trace.margin("local", settings.decision, node)
        return float(trace.local_rul[node, row]) - margin < settings.rul_threshold
    if policy == "federated":
        margin = trace.margin("federated", settings.decision)
        return float(trace.federated_rul[row]) - margin < settings.rul_threshold
    if policy == ORACLE:
        return cycle >= trace.n_cycles
    raise ValueError(f"unknown policy {policy!r}; expected one of {', '.join(POLICIES)}")

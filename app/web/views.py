"""The fixed views of a server: its game configuration, strategies and model metrics.

The game state's view, built for every frame, is `app.web.state_view`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from app.game import progress as progress_rules
from app.game.engines import EngineTrace
from app.game.strategies import strategy_infos
from app.web.deployments import Deployment
from app.web.model_schemas import LabModelView
from app.web.schemas import GameConfig, ModelMetrics, StrategyView
from app.web.settings import Settings


def margins_view(trace: EngineTrace, decision: str, nodes: Iterable[int]) -> dict[str, Any]:
    """What each predictive strategy subtracts from its model's prediction in a game (the pool's
    margins, the same on every trace) for the factories at `nodes` (`MarginsView`)."""
    return {
        "decision": decision,
        "federated": trace.margin("federated", decision),
        "local": {str(n): trace.margin("local", decision, n) for n in sorted(set(nodes))},
    }


def strategy_views(settings: Settings) -> list[StrategyView]:
    """The strategies with this game's figures in their texts."""
    return [
        StrategyView(
            name=i.name, label=i.label, description=i.description, unlock_hint=i.unlock_hint
        )
        for i in strategy_infos(settings.game)
    ]


def game_config(settings: Settings, feature_names: Sequence[str]) -> GameConfig:
    """The fixed figures of every game this server runs."""
    game = settings.game
    return GameConfig(
        feature_names=list(feature_names),
        revenue_per_cycle=game.revenue_per_cycle,
        maintenance_cost=game.maintenance_cost,
        maintenance_downtime=game.maintenance_downtime,
        failure_cost=game.failure_cost,
        failure_downtime=game.failure_downtime,
        preventative_cycle=game.preventative_cycle,
        rul_threshold=game.rul_threshold,
        max_ticks_per_second=settings.max_ticks_per_second,
        strategies=strategy_views(settings),
        unlock_rules=progress_rules.unlock_rules(game),
        n_slots=game.n_slots,
        n_competitors=game.n_competitors,
        competitor_names=game.competitor_names[: game.n_competitors],
        fair_draws=game.fair_draws,
        default_ticks_per_second=settings.default_ticks_per_second,
    )


def model_metrics(metrics: Mapping[str, Any]) -> ModelMetrics:
    """The engine's metrics as the dashboard's model panel reads them (extra keys ignored)."""
    return ModelMetrics.model_validate(dict(metrics))


def models_of(models: ModelMetrics, deployment: Deployment | None) -> ModelMetrics:
    """The server's model metrics as one game sees them: with the lab model it runs, if any
    (the Models panel shows the model that decides, never only the default one)."""
    if deployment is None:
        return models
    return models.model_copy(update={"lab_model": LabModelView.model_validate(deployment.view)})

"""From the game's state to the wire: builds the pydantic views of `app.web.schemas`.

Kept apart from the rule book so the simulation never knows about JSON, and apart from the
server so the views can be tested (and reused by the HTTP API) without a connection.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app.game import progress as progress_rules
from app.game.engines import EngineTrace
from app.game.history import ProfitHistory, ProfitPoint
from app.game.state import FactoryState, GameState, Progress, SlotState
from app.game.strategies import strategy_infos
from app.web.schemas import (
    EventView,
    FactoryView,
    GameConfig,
    GameStateView,
    GhostView,
    History,
    HistoryPoint,
    ModelMetrics,
    OffersView,
    SeasonView,
    SlotView,
    StrategyView,
)
from app.web.settings import Settings


def slot_view(slot: SlotState, pool: Sequence[EngineTrace], node: int = 0) -> SlotView:
    """A slot with its current cycle's readings (none at cycle 0, before the engine ran).

    `local_rul` is the prediction of the local model of the factory at federation `node`."""
    trace = pool[slot.engine]
    if slot.cycle == 0:
        sensors: list[float] = []
        local_rul = federated_rul = None
    else:
        row = slot.cycle - 1
        sensors = [float(v) for v in trace.sensors[row]]
        local_rul = float(trace.local_rul[node, row])
        federated_rul = float(trace.federated_rul[row])
    return SlotView(
        index=slot.index,
        engine_id=trace.engine_id,
        cycle=slot.cycle,
        status=slot.status,
        downtime_left=slot.downtime_left,
        sensors=sensors,
        local_rul=local_rul,
        federated_rul=federated_rul,
    )


def factory_view(
    factory: FactoryState, progress: Progress, pool: Sequence[EngineTrace]
) -> FactoryView:
    """A factory; the player's allowed strategies are the ones unlocked now."""
    allowed = progress_rules.unlocked(progress) if factory.is_player else list(factory.allowed)
    return FactoryView(
        name=factory.name,
        is_player=factory.is_player,
        strategy=factory.strategy,
        allowed_strategies=list(allowed),
        profit=factory.profit,
        active_cycles=factory.active_cycles,
        maintenances=factory.maintenances,
        failures=factory.failures,
        node=factory.node,
        slots=[slot_view(s, pool, factory.node) for s in factory.slots],
    )


def game_state_view(
    state: GameState, pool: Sequence[EngineTrace], *, running: bool, ticks_per_second: float
) -> GameStateView:
    """The whole game plus the session's pace, as sent in every frame."""
    progress = state.progress
    return GameStateView(
        seed=state.seed,
        tick=state.tick,
        running=running,
        ticks_per_second=ticks_per_second,
        free_play=progress.free_play,
        unlocked=progress_rules.unlocked(progress),
        offers=OffersView(
            hire_data_scientist=progress_rules.hire_offered(progress),
            federation=progress_rules.federation_offered(progress),
        ),
        factories=[factory_view(f, progress, pool) for f in state.factories],
        events=[
            EventView(tick=e.tick, factory=e.factory, slot=e.slot, kind=e.kind, message=e.message)
            for e in state.events
        ],
        ghost=ghost_view(state),
        season=SeasonView(
            goal=state.season.goal,
            winner=state.season.winner,
            finished_tick=state.season.finished_tick,
        ),
    )


def ghost_view(state: GameState) -> GhostView | None:
    """The player's stay-local ghost and what federated has earned against it."""
    if state.ghost is None:
        return None
    shadow = state.ghost.factory
    return GhostView(
        name=shadow.name,
        since_tick=state.ghost.since_tick,
        node=shadow.node,
        profit=shadow.profit,
        federated_gain=state.player.profit - shadow.profit,
    )


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


def history_view(history: ProfitHistory) -> History:
    """The whole kept profit history, as sent in a snapshot."""
    return History(tick=history.ticks, profit=history.profits, ghost=history.ghost)


def history_point_view(point: ProfitPoint) -> HistoryPoint:
    """One tick's profits, as sent in a tick frame."""
    return HistoryPoint(tick=point.tick, profit=point.profit, ghost=point.ghost)

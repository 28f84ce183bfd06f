"""The rule book: one game tick as a pure function of the state, the engine pool and the settings.

A tick, in order:
1. The tick counter goes up by one.
2. Every factory (player first), every slot (by index), using the factory's strategy as it
   stands at the start of the tick:
   a. A slot that is down ("maintenance" or "down") with `downtime_left > 0` sits this tick
      out: `downtime_left` goes down by one; no money moves.
   b. A slot that is down with `downtime_left == 0` is dealt its next engine (see `app.game.draws`)
      and carries on as running, from cycle 0, in this same tick.
   c. A running slot runs its engine's next cycle: the cycle count goes up by one and the
      factory earns `revenue_per_cycle` (this includes an engine's last recorded cycle: the
      engine fails only after it).
   d. Then the strategy looks at that cycle (its number and its predicted RULs) and decides
      (`app.game.strategies.should_maintain`). Maintain: the factory pays `maintenance_cost` and the
      slot sits out the next `maintenance_downtime` ticks (status "maintenance").
   e. Otherwise, if that was the engine's last recorded cycle, the engine fails: the factory
      pays `failure_cost` and the slot sits out the next `failure_downtime` ticks ("down").
      Maintenance on the last cycle wins over the failure (the oracle's choice).
3. The player's unlock progress is updated (`app.game.progress.after_tick`).
4. The season ends when a factory first reaches `season_goal` dollars (it wins; play may go on).
5. Events of the tick are appended; only the most recent `recent_events` are kept.

The ghost (the player's factory had it stayed on local, from when it first chose federated)
plays the same tick on the same engines, apart from the race.

So an engine of n cycles under corrective maintenance occupies its slot n + 60 ticks and brings
250 n - 60,000 dollars; maintained after cycle c it occupies c + 20 ticks and brings
250 c - 10,000. Profit is always 250 x active cycles - 10,000 x maintenances - 60,000 x failures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from app.game import progress as progress_rules
from app.game.draws import draw_engine, factory_nodes, factory_stream
from app.game.engines import EngineTrace
from app.game.settings import GameSettings
from app.game.state import Event, FactoryState, GameState, Progress, Season, SlotState
from app.game.strategies import STRATEGIES, should_maintain


def new_factory(
    name: str,
    strategy: str,
    index: int,
    pool: Sequence[EngineTrace],
    settings: GameSettings,
    seed: int,
    fair_draws: bool,
    *,
    is_player: bool = False,
    allowed: Sequence[str] = STRATEGIES,
    node: int = 0,
) -> FactoryState:
    """A factory at tick 0: every slot holds its first engine, not yet run."""
    stream = factory_stream(index)
    slots = tuple(
        SlotState(
            index=i,
            engine=draw_engine(seed, fair_draws, stream, i, 0, len(pool), settings.n_slots),
        )
        for i in range(settings.n_slots)
    )
    return FactoryState(
        name=name,
        is_player=is_player,
        strategy=strategy,
        allowed=tuple(allowed),
        slots=slots,
        stream=stream,
        node=node,
    )


def new_game(
    pool: Sequence[EngineTrace], settings: GameSettings, seed: int, *, free_play: bool = False
) -> GameState:
    """A game at tick 0: the player on corrective, the competitors on their set strategies."""
    if not pool:
        raise ValueError("the engine pool is empty: the game needs at least one engine trace")
    fair = settings.fair_draws
    nodes = factory_nodes(seed, pool[0].n_nodes, 1 + settings.n_competitors)
    player = new_factory(
        settings.player_name,
        "corrective",
        0,
        pool,
        settings,
        seed,
        fair,
        is_player=True,
        node=nodes[0],
    )
    competitors = [
        new_factory(
            name,
            strategy,
            i + 1,
            pool,
            settings,
            seed,
            fair,
            allowed=settings.competitor_cap,
            node=nodes[i + 1],
        )
        for i, (name, strategy) in enumerate(
            zip(
                settings.competitor_names[: settings.n_competitors],
                settings.competitor_strategies[: settings.n_competitors],
                strict=True,
            )
        )
    ]
    return GameState(
        seed=seed,
        tick=0,
        fair_draws=fair,
        factories=(player, *competitors),
        progress=Progress(free_play=free_play),
        season=Season(goal=settings.season_goal),
    )


def stop_event(
    tick: int,
    factory: str,
    slot: int,
    trace: EngineTrace,
    cycle: int,
    maintained: bool,
    settings: GameSettings,
) -> Event:
    """The log line of a slot whose engine leaves it (steps 2d and 2e), shared by the fast path."""
    if maintained:
        return Event(
            tick,
            factory,
            slot,
            "maintenance",
            f"{trace.engine_id} maintained after cycle {cycle} "
            f"(-${settings.maintenance_cost:,.0f}, {settings.maintenance_downtime} cycles down).",
        )
    return Event(
        tick,
        factory,
        slot,
        "failure",
        f"{trace.engine_id} failed after cycle {cycle} "
        f"(-${settings.failure_cost:,.0f}, {settings.failure_downtime} cycles down).",
    )


def advance_factory(
    factory: FactoryState,
    tick: int,
    pool: Sequence[EngineTrace],
    settings: GameSettings,
    seed: int,
    fair_draws: bool,
) -> tuple[FactoryState, list[Event]]:
    """Step 2 of the tick for one factory: every slot, in index order."""
    slots: list[SlotState] = []
    events: list[Event] = []
    cycles = maintenances = failures = 0
    for slot in factory.slots:
        if slot.status != "running":
            if slot.downtime_left > 0:  # 2a
                slots.append(replace(slot, downtime_left=slot.downtime_left - 1))
                continue
            engine = draw_engine(  # 2b
                seed,
                fair_draws,
                factory.stream,
                slot.index,
                slot.draws,
                len(pool),
                settings.n_slots,
            )
            slot = SlotState(index=slot.index, engine=engine, draws=slot.draws + 1)
        trace = pool[slot.engine]
        cycle = slot.cycle + 1  # 2c
        cycles += 1
        if should_maintain(factory.strategy, trace, cycle, settings, factory.node):  # 2d
            maintenances += 1
            slot = replace(
                slot,
                cycle=cycle,
                status="maintenance",
                downtime_left=settings.maintenance_downtime,
            )
            events.append(stop_event(tick, factory.name, slot.index, trace, cycle, True, settings))
        elif cycle >= trace.n_cycles:  # 2e
            failures += 1
            slot = replace(
                slot, cycle=cycle, status="down", downtime_left=settings.failure_downtime
            )
            events.append(stop_event(tick, factory.name, slot.index, trace, cycle, False, settings))
        else:
            slot = replace(slot, cycle=cycle)
        slots.append(slot)
    profit = (
        factory.profit
        + cycles * settings.revenue_per_cycle
        - maintenances * settings.maintenance_cost
        - failures * settings.failure_cost
    )
    return (
        replace(
            factory,
            slots=tuple(slots),
            profit=profit,
            active_cycles=factory.active_cycles + cycles,
            maintenances=factory.maintenances + maintenances,
            failures=factory.failures + failures,
        ),
        events,
    )


def step(state: GameState, pool: Sequence[EngineTrace], settings: GameSettings) -> GameState:
    """Play one tick (see the module docstring for the order); `state` is left untouched."""
    tick = state.tick + 1
    factories: list[FactoryState] = []
    events: list[Event] = []
    for factory in state.factories:
        advanced, factory_events = advance_factory(
            factory, tick, pool, settings, state.seed, state.fair_draws
        )
        factories.append(advanced)
        events.extend(factory_events)
    ghost = state.ghost
    if ghost is not None:  # the ghost plays the same engines; its events are nobody's news
        shadow, _ = advance_factory(
            ghost.factory, tick, pool, settings, state.seed, state.fair_draws
        )
        ghost = replace(ghost, factory=shadow)
    state = replace(state, tick=tick, factories=tuple(factories), ghost=ghost)
    progress, progress_events = progress_rules.after_tick(state, settings)
    events.extend(progress_events)
    season, season_events = _season(state, tick)
    events.extend(season_events)
    return replace(
        state,
        progress=progress,
        season=season,
        events=(*state.events, *events)[-settings.recent_events :],
    )


def _season(state: GameState, tick: int) -> tuple[Season, list[Event]]:
    """Step 4: the first factory to the goal wins the season (the richest, if several at once)."""
    season = state.season
    if season.winner is not None:
        return season, []
    reached = [f for f in state.factories if f.profit >= season.goal]
    if not reached:
        return season, []
    winner = max(reached, key=lambda f: f.profit)
    return replace(season, winner=winner.name, finished_tick=tick), [
        season_event(tick, winner.name, season.goal)
    ]


def season_event(tick: int, winner: str, goal: float) -> Event:
    """The log line of the season's end (step 4), shared by the fast path."""
    message = f"{winner} reached ${goal:,.0f} first and wins the season."
    return Event(tick, winner, None, "season", message)


def run(
    state: GameState, pool: Sequence[EngineTrace], settings: GameSettings, n_ticks: int
) -> GameState:
    """Play `n_ticks` ticks in a row."""
    for _ in range(n_ticks):
        state = step(state, pool, settings)
    return state

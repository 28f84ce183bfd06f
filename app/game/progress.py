"""The player's progression: which strategies are unlocked, what is offered, and player actions.

The rules, as the dashboard states them (`unlock_rules`):
1. Corrective maintenance is available from the start.
2. Preventative unlocks once the player's factory has had `failures_to_unlock_preventative`
   failures (checked at the end of each tick).
3. Once preventative is unlocked and the player's factory has stopped `hire_offer_after_stops`
   more engines (maintained or failed: counted from its failures and maintenances beyond the
   unlocking failures, so the offer comes after the unlock, not on its tick), a data scientist
   is offered; hiring one (an action) unlocks local predictive. Nothing is paid: the hire
   is a choice of model (one trained on the factory's own engines only).
4. Each tick at whose end the player's strategy is local predictive counts one cycle on local
   predictive (free play excluded); after `federation_offer_after_cycles` of them the
   federation offer arrives, and accepting it (an action) unlocks federated predictive.
5. Free play unlocks every strategy at once; switching it off goes back to the earned unlocks
   (and to the best earned strategy if the current one is no longer available).
Competitors do not progress: they keep their strategy, within their cap.

Every action returns a new state or raises `GameRuleError` with a message for the player.
"""

from __future__ import annotations

from dataclasses import replace

from app.game.settings import GameSettings
from app.game.state import Event, FactoryState, GameState, Ghost, Progress
from app.game.strategies import STRATEGIES, StrategyName, strategy_infos


class GameRuleError(ValueError):
    """A player action the rules do not allow now; the message says why and what unlocks it."""


def unlock_rules(settings: GameSettings) -> list[str]:
    """The unlock rules in words, with this game's figures."""
    return [
        "Corrective maintenance is available from the start.",
        f"Preventative maintenance unlocks after {settings.failures_to_unlock_preventative} "
        "failures in your factory.",
        f"A data scientist is offered {_stops_phrase(settings)}: hire one to unlock local "
        "predictive maintenance (a model trained on your own factory's engines only).",
        f"After {settings.federation_offer_after_cycles} ticks on local predictive, a federation "
        "of factories offers to train a shared model without sharing data: accept to unlock "
        "federated predictive maintenance.",
        "Free play unlocks every strategy at once.",
    ] + (
        [
            f"The {settings.n_competitors} competitor "
            f"{'factory is' if settings.n_competitors == 1 else 'factories are'} capped: "
            "never federated predictive maintenance."
        ]
        if settings.n_competitors
        else []
    )


def _stops_phrase(settings: GameSettings) -> str:
    """When the data scientist comes, counted in engine stops after the unlock."""
    n = settings.hire_offer_after_stops
    if n == 0:
        return "as soon as preventative unlocks"
    return f"after preventative unlocks, at your factory's next {_stops(n)}"


def _stops(n: int) -> str:
    return "maintenance or failure" if n == 1 else f"{n} maintenances or failures"


def unlocked(progress: Progress) -> list[StrategyName]:
    """The strategies the player may choose now, from worst to best."""
    if progress.free_play:
        return list(STRATEGIES)
    earned: list[StrategyName] = ["corrective"]
    if progress.preventative_unlocked:
        earned.append("preventative")
    if progress.data_scientist_hired:
        earned.append("local")
    if progress.federation_accepted:
        earned.append("federated")
    return earned


def hire_offered(progress: Progress, player: FactoryState, settings: GameSettings) -> bool:
    """Whether the dashboard should offer to hire a data scientist now (rule 3)."""
    stops = player.failures + player.maintenances
    return (
        not progress.free_play
        and progress.preventative_unlocked
        and not progress.data_scientist_hired
        and stops >= settings.failures_to_unlock_preventative + settings.hire_offer_after_stops
    )


def federation_offered(progress: Progress) -> bool:
    """Whether the dashboard should offer to join the federation now."""
    return (
        not progress.free_play and progress.federation_offered and not progress.federation_accepted
    )


def offers(progress: Progress, player: FactoryState, settings: GameSettings) -> dict[str, bool]:
    """What the dashboard offers now, as the state view names it."""
    return {
        "hire_data_scientist": hire_offered(progress, player, settings),
        "federation": federation_offered(progress),
    }


def after_tick(state: GameState, settings: GameSettings) -> tuple[Progress, list[Event]]:
    """Rules 2 and 4, applied at the end of a tick to the player's factory as it now stands."""
    progress = state.progress
    player = state.player
    events: list[Event] = []
    if progress.free_play:
        cycles_on_local = progress.cycles_on_local
    else:
        cycles_on_local = progress.cycles_on_local + (player.strategy == "local")
    progress = replace(progress, cycles_on_local=cycles_on_local)
    if (
        not progress.preventative_unlocked
        and player.failures >= settings.failures_to_unlock_preventative
    ):
        progress = replace(progress, preventative_unlocked=True)
        events.append(
            Event(
                state.tick,
                player.name,
                None,
                "unlock",
                f"{player.failures} failures: preventative maintenance unlocked. "
                + (
                    f"A data scientist will be offered at your next "
                    f"{_stops(settings.hire_offer_after_stops)}."
                    if settings.hire_offer_after_stops
                    else "A data scientist is also available for hire."
                ),
            )
        )
    if (
        not progress.federation_offered
        and progress.cycles_on_local >= settings.federation_offer_after_cycles
    ):
        progress = replace(progress, federation_offered=True)
        events.append(
            Event(
                state.tick,
                player.name,
                None,
                "offer",
                "A federation of factories offers a model trained on all their engines, "
                "without anyone sharing data.",
            )
        )
    return progress, events


def _with_event(state: GameState, event: Event, settings: GameSettings) -> GameState:
    return replace(state, events=(*state.events, event)[-settings.recent_events :])


def set_strategy(state: GameState, strategy: str, settings: GameSettings) -> GameState:
    """Switch the player's factory to `strategy`; it decides from the next tick on."""
    if strategy not in STRATEGIES:
        raise GameRuleError(
            f"unknown strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}"
        )
    if strategy not in unlocked(state.progress):
        hint = next(i.unlock_hint for i in strategy_infos(settings) if i.name == strategy)
        raise GameRuleError(f"strategy {strategy!r} is locked. {hint}")
    player = state.player
    if player.strategy == strategy:
        return state
    label = next(i.label for i in strategy_infos(settings) if i.name == strategy)
    if strategy == "federated" and state.ghost is None:
        state = replace(state, ghost=start_ghost(state))
    state = replace(state, factories=(replace(player, strategy=strategy), *state.factories[1:]))
    return _with_event(
        state,
        Event(state.tick, player.name, None, "strategy", f"Switched to {label} maintenance."),
        settings,
    )


def start_ghost(state: GameState) -> Ghost:
    """The player's factory as it stands now, to be played on local predictive from here on."""
    player = state.player
    shadow = replace(player, name=f"{player.name}, had it stayed local", is_player=False)
    return Ghost(since_tick=state.tick, factory=replace(shadow, strategy="local"))


def hire_data_scientist(state: GameState, settings: GameSettings) -> GameState:
    """Rule 3: hire the data scientist on offer, unlocking local predictive."""
    progress = state.progress
    if progress.free_play:
        raise GameRuleError("free play is on: every strategy is already unlocked")
    if progress.data_scientist_hired:
        raise GameRuleError("you have already hired a data scientist")
    if not hire_offered(progress, state.player, settings):
        raise GameRuleError(
            "no data scientist is on offer yet: one is offered "
            f"{_stops_phrase(settings)} (preventative unlocks after "
            f"{settings.failures_to_unlock_preventative} failures)"
        )
    state = replace(state, progress=replace(progress, data_scientist_hired=True))
    return _with_event(
        state,
        Event(
            state.tick,
            state.player.name,
            None,
            "hire",
            "Data scientist hired: local predictive maintenance unlocked.",
        ),
        settings,
    )


def accept_federation(state: GameState, settings: GameSettings) -> GameState:
    """Rule 4: accept the federation offer, unlocking federated predictive."""
    progress = state.progress
    if progress.free_play:
        raise GameRuleError("free play is on: every strategy is already unlocked")
    if progress.federation_accepted:
        raise GameRuleError("you have already joined the federation")
    if not progress.federation_offered:
        left = settings.federation_offer_after_cycles - progress.cycles_on_local
        raise GameRuleError(
            "no federation offer yet: it arrives after "
            f"{settings.federation_offer_after_cycles} ticks on local predictive "
            f"({left} to go)"
        )
    state = replace(state, progress=replace(progress, federation_accepted=True))
    return _with_event(
        state,
        Event(
            state.tick,
            state.player.name,
            None,
            "unlock",
            "Joined the federation: federated predictive maintenance unlocked.",
        ),
        settings,
    )


def set_free_play(state: GameState, enabled: bool, settings: GameSettings) -> GameState:
    """Rule 5: switch free play on or off."""
    if state.progress.free_play == enabled:
        return state
    state = replace(state, progress=replace(state.progress, free_play=enabled))
    player = state.player
    message = "Free play on: every strategy unlocked." if enabled else "Free play off."
    available = unlocked(state.progress)
    if player.strategy not in available:
        fallback = available[-1]
        state = replace(state, factories=(replace(player, strategy=fallback), *state.factories[1:]))
        message += f" Back to {fallback}, the best strategy you have earned."
    return _with_event(state, Event(state.tick, player.name, None, "free_play", message), settings)

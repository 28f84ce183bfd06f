"""The game's state: plain frozen dataclasses, so a tick builds a new state and never edits one.

Immutability is what makes `app.game.simulation.step` a pure function: the same state, pool and
settings always give the same next state, and tests can keep the state before a tick to compare.
All randomness is a function of `GameState.seed` and the per-slot draw counters held here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SlotStatus = Literal["running", "maintenance", "down"]


@dataclass(frozen=True)
class SlotState:
    """One turbofan slot.

    `engine` indexes the engine pool. `cycle` is how many cycles that engine has run (0: just
    installed). While `status` is "maintenance" or "down" the slot keeps its last engine for
    display and sits out `downtime_left` more ticks. `draws` counts the engines this slot has
    been dealt, which is the position in its seeded deck.
    """

    index: int
    engine: int
    cycle: int = 0
    status: SlotStatus = "running"
    downtime_left: int = 0
    draws: int = 1


@dataclass(frozen=True)
class FactoryState:
    """A factory's slots and ledger.

    `profit` is booked as money moves (revenue per cycle, cost per maintenance and failure), not
    derived from the counters, so the identity profit = revenue x cycles - costs is a real check.
    `allowed` is the cap on strategies (competitors); the player's cap is all strategies and
    what it may use now is decided by the unlock rules in `app.game.progress`.
    `stream` tells the draws which engine sequence is this factory's when draws are not fair.
    `node` is its place among the federation's factories, chosen by the seed (`app.game.draws`).
    """

    name: str
    is_player: bool
    strategy: str
    allowed: tuple[str, ...]
    slots: tuple[SlotState, ...]
    stream: int
    node: int = 0  # this factory's node in the federation: its local model is that node's
    profit: float = 0.0
    active_cycles: int = 0
    maintenances: int = 0
    failures: int = 0


@dataclass(frozen=True)
class Progress:
    """The player's way through the unlocks (see `app.game.progress` for the rules)."""

    preventative_unlocked: bool = False
    data_scientist_hired: bool = False
    cycles_on_local: int = 0
    federation_offered: bool = False
    federation_accepted: bool = False
    free_play: bool = False


@dataclass(frozen=True)
class Event:
    """A line for the dashboard's log; `slot` is None for factory-wide events."""

    tick: int
    factory: str
    slot: int | None
    kind: str
    message: str


@dataclass(frozen=True)
class Ghost:
    """The player's factory had it stayed on local predictive when it first chose federated.

    A copy of the player's factory at `since_tick`, played with its own local model ever since on
    the same engines: the player's profit minus the ghost's is what federated has earned it.
    """

    since_tick: int
    factory: FactoryState


@dataclass(frozen=True)
class Season:
    """The race to `goal` dollars: the first factory there wins the season (then play goes on)."""

    goal: float
    winner: str | None = None
    finished_tick: int | None = None


@dataclass(frozen=True)
class GameState:
    """A whole game at the end of tick `tick` (0: nothing has run yet).

    `factories[0]` is the player's. `events` holds only the most recent events.
    """

    seed: int
    tick: int
    fair_draws: bool
    factories: tuple[FactoryState, ...]
    progress: Progress
    season: Season
    events: tuple[Event, ...] = ()
    ghost: Ghost | None = None

    @property
    def player(self) -> FactoryState:
        return self.factories[0]

"""Node behaviours: what a simulated factory does in a round.

A behaviour is one small function `round_index -> Action`. The federation asks every node each
round, so later behaviours (slow, poisoning, flaky nodes) are new functions, not new trainer code.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum


class Action(StrEnum):
    FEDERATE = "federate"  # start from the global model, train, send the update
    LOCAL = "local"  # train its own model on its own data; never sends or receives
    OFFLINE = "offline"  # does nothing this round


NodeBehaviour = Callable[[int], Action]


def participant(round_index: int) -> Action:
    return Action.FEDERATE


def non_participant(round_index: int) -> Action:
    """The FF09 "non-participant": keeps learning alone, the game's local predictive model."""
    return Action.LOCAL


def fails_at(first_failed_round: int) -> NodeBehaviour:
    """The FF09 "failed" node: federates normally, then from `first_failed_round` on stops training
    and contributes nothing (0 = failed from the start)."""

    def behaviour(round_index: int) -> Action:
        return Action.OFFLINE if round_index >= first_failed_round else Action.FEDERATE

    return behaviour

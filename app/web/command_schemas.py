"""Client -> server commands of the game websocket, discriminated by `type` (docs/protocol.md).

Strict where JSON would otherwise be read loosely: `"seed": true` is not the seed 1.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from app.game.policies import StrategyName


class _Command(BaseModel):
    # Unknown fields are a client bug worth reporting rather than ignoring.
    model_config = ConfigDict(extra="forbid")


class SetStrategy(_Command):
    """Switch the player's factory to an unlocked strategy (from the next decision on)."""

    type: Literal["set_strategy"]
    strategy: StrategyName


class SetSpeed(_Command):
    """Run at this many ticks per second; 0 pauses, any other speed also resumes.

    The upper bound is the server's `max_ticks_per_second` (50 by default, sent in the config).
    """

    type: Literal["set_speed"]
    ticks_per_second: float = Field(ge=0, allow_inf_nan=False, strict=True)


class Pause(_Command):
    """Stop ticking (the speed is kept)."""

    type: Literal["pause"]


class Resume(_Command):
    """Start ticking again at the current speed (the default speed if it was 0)."""

    type: Literal["resume"]


class Step(_Command):
    """Play exactly one tick now (works paused or running)."""

    type: Literal["step"]


class Reset(_Command):
    """Start a new game, with `seed` or the current game's seed; answered with a snapshot."""

    type: Literal["reset"]
    seed: int | None = Field(default=None, ge=0, le=2**32 - 1, strict=True)


class HireDataScientist(_Command):
    """Accept the data-scientist offer: unlocks local predictive maintenance."""

    type: Literal["hire_data_scientist"]


class AcceptFederation(_Command):
    """Accept the federation offer: unlocks federated predictive maintenance."""

    type: Literal["accept_federation"]


class FreePlay(_Command):
    """Unlock every strategy at once (enabled) or go back to earned unlocks."""

    type: Literal["free_play"]
    enabled: bool = Field(strict=True)


class UseDefaultModel(_Command):
    """Drop the lab model deployed into this game: the default federated model decides again,
    from the next decision on (refused when the default model already decides)."""

    type: Literal["use_default_model"]


class Ack(_Command):
    """The client has drawn every frame up to `seq`; the server sends a few frames ahead only."""

    type: Literal["ack"]
    seq: int = Field(ge=0, strict=True)


Command = Annotated[
    SetStrategy
    | SetSpeed
    | Pause
    | Resume
    | Step
    | Reset
    | HireDataScientist
    | AcceptFederation
    | FreePlay
    | UseDefaultModel
    | Ack,
    Field(discriminator="type"),
]
COMMAND_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)
# The command type tags, read off the union so the list cannot drift from the models.
COMMAND_TYPES: tuple[str, ...] = tuple(
    get_args(model.model_fields["type"].annotation)[0] for model in get_args(get_args(Command)[0])
)

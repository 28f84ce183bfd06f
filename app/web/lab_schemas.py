"""Messages of the lab websocket `/ws/lab` (docs/lab.md, section 4), both ways.

Client -> server: a discriminated union on `type` (like `app.web.command_schemas`). The run's
configuration travels as a JSON object and is validated by the engine's `LabConfig` (through the
lab bridge), so its rules live in one place; its errors come back as an error frame naming the
field. Server -> client: one model per frame type; a round frame carries the round's record.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated, Any, Literal, get_args

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from app.web.nesting import too_deep

SESSION_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Start(_Message):
    """Train a federation with this configuration (a `LabConfig`; absent fields: defaults)."""

    type: Literal["start"]
    config: dict[str, Any] = Field(default_factory=dict)


class Pause(_Message):
    """Stop after the current round (the run keeps its place; its training slot is freed)."""

    type: Literal["pause"]


class Resume(_Message):
    """Go on training round after round."""

    type: Literal["resume"]


class Step(_Message):
    """Play one round while paused."""

    type: Literal["step"]


class Cancel(_Message):
    """Stop the run between rounds (or leave the queue)."""

    type: Literal["cancel"]


class Deploy(_Message):
    """Put the run's current global model behind the federated strategy of this game session
    (a model that earns less than the default one only with `confirm_worse`)."""

    type: Literal["deploy"]
    session: str = Field(pattern=SESSION_PATTERN, description="The game's session id.")
    confirm_worse: bool = Field(
        default=False, strict=True, description="Deploy even if it earns less than the default "
        "federated model (the player saw the `confirm_deploy` frame's warning and agreed).",
    )  # fmt: skip


LabMessage = Annotated[Start | Pause | Resume | Step | Cancel | Deploy, Field(discriminator="type")]
LAB_MESSAGE_ADAPTER: TypeAdapter[LabMessage] = TypeAdapter(LabMessage)
LAB_MESSAGE_TYPES: tuple[str, ...] = tuple(
    get_args(m.model_fields["type"].annotation)[0] for m in get_args(get_args(LabMessage)[0])
)


class LabMessageError(ValueError):
    """A client message that is not a valid lab message; `field` names the culprit if known."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def parse_lab_message(text: str | None, max_bytes: int, max_depth: int) -> LabMessage:
    """Validate one client message (JSON text) of at most `max_bytes`, nested at most
    `max_depth` deep (`Settings.max_json_depth`): deeper is refused before anything recurses."""
    if text is None:
        raise LabMessageError("binary messages are not accepted: send JSON text")
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        raise LabMessageError(f"message too large: {size} bytes (the limit is {max_bytes} bytes)")
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise LabMessageError(f"invalid JSON: {exc.msg}") from None
    if too_deep(data, max_depth):
        raise LabMessageError(
            f"the message nests objects or lists more than {max_depth} levels deep; a lab "
            "message needs 3 at most"
        )
    expected = ", ".join(LAB_MESSAGE_TYPES)
    if not isinstance(data, dict) or data.get("type") not in LAB_MESSAGE_TYPES:
        got = data.get("type") if isinstance(data, dict) else type(data).__name__
        raise LabMessageError(f"unknown lab message {got!r}; expected a type among: {expected}")
    try:
        return LAB_MESSAGE_ADAPTER.validate_python(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"][1:]) or "message"
        if err["type"] == "string_pattern_mismatch" and where == "session":
            raise LabMessageError(
                "session must be a game session id (16-64 of A-Z a-z 0-9 _ -)", "session"
            ) from None
        raise LabMessageError(
            f"invalid {data['type']!r} message: {where}: {err['msg']}", where
        ) from None


def config_error(exc: ValidationError, fields: Collection[str]) -> LabMessageError:
    """A `LabConfig` validation error in words, naming the first wrong field (of `fields`).

    The engine's messages already name their field ("nodes must be between 8 and 8000, got
    9000"); a check across fields has no location, so its message's first word names it.
    """
    problems = []
    first: str | None = None
    for err in exc.errors():
        msg = err["msg"].removeprefix("Value error, ")
        where = ".".join(str(p) for p in err["loc"])
        if not where and msg.split(" ", 1)[0] in fields:
            where = msg.split(" ", 1)[0]
        first = first or where or None
        if err["type"] == "extra_forbidden":
            problems.append(f"unknown field {where!r}")
        elif where and not msg.startswith(where):
            problems.append(f"{where}: {msg} (got {_shown(err.get('input'))})")
        else:
            problems.append(msg)
    return LabMessageError("invalid lab config: " + "; ".join(problems), first)


def _shown(value: Any, limit: int = 40) -> str:
    """A value the client sent, short; a container is named, never repr()'d (however deep)."""
    if isinstance(value, dict | list):
        return "an object" if isinstance(value, dict) else "a list"
    try:
        text = repr(value)
    except ValueError:  # an int past 4300 digits
        return "a number too large to show"
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------- server -> client


class RoundRecord(BaseModel):
    """One round of a lab run, as `LabRun.step()` records it (docs/lab.md, section 2)."""

    model_config = ConfigDict(extra="allow")  # a field the engine adds passes through

    round: int
    rmse: float | None = Field(description="Global model's test RMSE (null if not finite).")
    late_life_rmse: float | None
    participants: list[int]
    dropped: list[int]
    stragglers: list[int]
    attackers: list[int]
    rejected: list[int]
    node_loss_before: list[float | None] = Field(description="By node: own model's loss.")
    node_loss_after: list[float | None] = Field(description="By node: new global model's loss.")
    bytes_up: int = Field(description="Exact encoded bytes the server received this round.")
    bytes_down: int = Field(description="Exact bytes the server sent this round.")
    epsilon: float | None = Field(
        default=None, description="Privacy spent so far at the run's delta; null without noise."
    )
    clip: float | None = Field(default=None, description="The clipping norm C used (DP).")
    failure: str | None = Field(
        default=None, description="Why the round failed (the model was kept), e.g. secure "
        "aggregation with fewer survivors than its threshold.",
    )  # fmt: skip
    noise_multiplier: float | None = Field(
        default=None, description="Std / C of the Gaussian noise actually added to this round's "
        "sum of clipped updates (null without DP noise); under secure aggregation at least "
        "dp_noise (each client adds noise for the smallest cohort that can finish the round), "
        "under adaptive clipping above it (the count release takes a part of the budget).",
    )  # fmt: skip
    count_noise_multiplier: float | None = Field(
        default=None, description="Adaptive clipping's count noise multiplier (null otherwise)."
    )
    sampling_rate: float | None = Field(
        default=None, description="The sampling rate q the privacy accountant was told (null "
        "without DP noise).",
    )  # fmt: skip
    threshold: int | None = Field(
        default=None, description="Secure aggregation's threshold this round: the clients needed "
        "to unmask (null without secure aggregation).",
    )  # fmt: skip
    refused: list[int] = Field(
        default_factory=list, description="Nodes whose own client refused to mask its update "
        "under secure aggregation (not finite, or out of the fixed-point ring's range); they are "
        "also in `rejected`.",
    )  # fmt: skip
    seconds: float


class Queued(BaseModel):
    """Every lab slot is busy: this run waits, `position` runs ahead of it (1 = next)."""

    type: Literal["queued"] = "queued"
    position: int
    message: str


class Started(BaseModel):
    """The run holds a training slot now (sent once, when its data is ready)."""

    type: Literal["started"] = "started"
    config: dict[str, Any] = Field(description="The whole configuration, defaults filled in.")


class RoundFrame(BaseModel):
    type: Literal["round"] = "round"
    record: RoundRecord


class Status(BaseModel):
    """The run's pace changed (answer to pause, resume and step)."""

    type: Literal["status"] = "status"
    state: Literal["running", "paused"]
    rounds_done: int


class Finished(BaseModel):
    type: Literal["finished"] = "finished"
    final: dict[str, Any] = Field(
        description="`LabRun.final()`: rmse, late_life_rmse, ..., and `notes`, sentences for the "
        "user (shown verbatim), e.g. what secure aggregation cannot screen."
    )


class Cancelled(BaseModel):
    type: Literal["cancelled"] = "cancelled"
    rounds_done: int


class DeployFigures(BaseModel):
    """A lab model measured for one game: its name there and profits as % of the oracle."""

    session: str
    model: str = Field(description="What the game shows (would show) as its federated model.")
    rounds_done: int
    percent_of_oracle: float = Field(description="The lab's model, fast fleet simulation.")
    default_percent_of_oracle: float = Field(description="The game's default federated model.")
    local_percent_of_oracle: float = Field(description="The factories' local models (median).")


class DeployCheck(DeployFigures):
    """Not deployed: the model earns less than the default one. Send `deploy` again with
    `confirm_worse: true` to deploy it all the same."""

    type: Literal["confirm_deploy"] = "confirm_deploy"
    message: str = Field(description="The warning, in words, with the figures.")


class Deployed(DeployFigures):
    """The lab's model now drives the session's federated strategy; profits as % of oracle."""

    type: Literal["deployed"] = "deployed"
    worse_than_default: bool = Field(description="It earns less than the default model.")
    warning: str | None = Field(default=None, description="What that costs, when it does.")
    kept: str = Field(description="When the deployment ends (as the game's state says).")


class LabError(BaseModel):
    type: Literal["error"] = "error"
    message: str
    field: str | None = Field(default=None, description="The wrong field, when one is.")


class LabStatus(BaseModel):
    """GET /api/lab: the server's lab runs right now."""

    max_runs: int
    training: int = Field(description="Runs holding a training slot.")
    queued: int = Field(description="Runs waiting for a slot.")
    threads: int = Field(description="Worker threads computing for the lab right now.")


LabFrame = (
    Queued
    | Started
    | RoundFrame
    | Status
    | Finished
    | Cancelled
    | DeployCheck
    | Deployed
    | LabError
)

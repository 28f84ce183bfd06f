"""The websocket (and HTTP API) contract: every message in and out is one of these models.

The dashboard is written against these field names, so fields may be added but never renamed.
Server -> client frames carry a `type` of "snapshot", "delta" or "error"; client -> server
commands are discriminated by `type` too (see `Command`). `docs/protocol.md` tells the story.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from app.game.policies import StrategyName
from app.web.model_schemas import LabModelView, ModelMetrics

SlotStatus = Literal["running", "maintenance", "down"]

# ---------------------------------------------------------------- game state (server -> client)


class SlotView(BaseModel):
    """One turbofan slot of a factory, as of the end of the latest tick.

    `cycle` is the number of cycles the slot's current engine has run; `sensors`, `local_rul`
    and `federated_rul` are that cycle's readings and predictions. At tick 0 (a new game) the
    engine is installed but has run no cycle yet: `cycle` is 0, `sensors` is an empty list and
    both RULs are null. While a slot is down (status "maintenance" or "down") it still shows the
    engine it last ran; `downtime_left` is the number of further ticks it sits out, and on the
    tick after it reaches 0 the slot gets a new engine and runs that engine's cycle 1.
    Frames carry sensors and RULs for the player's slots only (docs/protocol.md): a competitor's
    slot shows its engine, cycle and status, with empty sensors and null RULs.
    """

    index: int
    engine_id: str
    cycle: int
    status: SlotStatus
    downtime_left: int
    sensors: list[float] = Field(description="The 16 feature values of `cycle` (empty at cycle 0).")
    local_rul: float | None = Field(description="The prediction of this factory's own local model.")
    federated_rul: float | None


class FactoryView(BaseModel):
    """A factory's score and slots. `profit` always equals revenue x active_cycles minus costs."""

    name: str
    is_player: bool
    node: int = Field(
        description="The factory's node in the federation: its local model learned from that "
        "node's engines only."
    )
    strategy: str
    allowed_strategies: list[str] = Field(
        description="Strategies this factory may use now: the player's unlocked ones, or a "
        "competitor's cap."
    )
    profit: float
    active_cycles: int
    maintenances: int
    failures: int
    slots: list[SlotView]


class EventView(BaseModel):
    """Something worth a line in the dashboard's log: a failure, a maintenance, an unlock..."""

    tick: int
    factory: str
    slot: int | None = Field(description="Slot index, or null for factory-wide events.")
    kind: str = Field(
        description="failure | maintenance | unlock | offer | hire | strategy | free_play | "
        "reset | season"
    )
    message: str


class GhostView(BaseModel):
    """The player's factory had it stayed on local predictive since it first chose federated."""

    name: str
    since_tick: int
    node: int
    profit: float
    federated_gain: float = Field(
        description="Player's profit minus the ghost's: what federated has earned since joining."
    )


class SeasonView(BaseModel):
    """The race to `goal` dollars; `winner` is set once a factory gets there first."""

    goal: float
    winner: str | None
    finished_tick: int | None


class OffersView(BaseModel):
    """Actions the player is being offered right now (buttons to show)."""

    hire_data_scientist: bool
    federation: bool


class MarginsView(BaseModel):
    """What the predictive strategies subtract from a model's prediction before comparing it with
    the threshold: the model's calibration margin (0 under the raw decision)."""

    decision: Literal["calibrated", "raw"]
    federated: float = Field(description="The federated model's (a deployed lab model's).")
    local: dict[str, float] = Field(description="Each factory's own local model's, by node.")


class GameStateView(BaseModel):
    """The whole game as of its latest tick, plus the session's pace."""

    seed: int
    tick: int
    running: bool
    ticks_per_second: float
    free_play: bool
    federated_model: str = Field(
        default="default",
        description="The federated strategy's model: \"default\", or a deployed lab model's "
        "label (`lab_model.label`).",
    )
    lab_model: LabModelView | None = Field(
        default=None, description="The lab model that decides for the federated strategy (its "
        "figures, and when its deployment ends), null while the default model does.",
    )  # fmt: skip
    unlocked: list[StrategyName]
    offers: OffersView
    factories: list[FactoryView] = Field(
        description="The player's factory first, then the competitors."
    )
    events: list[EventView] = Field(description="The most recent events, oldest first.")
    ghost: GhostView | None = Field(
        default=None, description="Null until the player first chooses federated predictive."
    )
    margins: MarginsView
    season: SeasonView


# ---------------------------------------------------------------- configuration and models


class StrategyView(BaseModel):
    """A strategy as the dashboard lists it."""

    name: StrategyName
    label: str
    description: str
    unlock_hint: str


class GameConfig(BaseModel):
    """The fixed figures of a game, sent once in the snapshot (and at GET /api/config)."""

    feature_names: list[str]
    revenue_per_cycle: float
    maintenance_cost: float
    maintenance_downtime: int
    failure_cost: float
    failure_downtime: int
    preventative_cycle: int
    rul_threshold: float
    max_ticks_per_second: float
    strategies: list[StrategyView]
    unlock_rules: list[str]
    n_slots: int
    n_competitors: int
    competitor_names: list[str]
    fair_draws: bool
    default_ticks_per_second: float


class History(BaseModel):
    """Profit over time per factory: `profit[name][i]` is that factory's profit at `tick[i]`."""

    tick: list[int]
    profit: dict[str, list[float]]
    ghost: list[float | None] = Field(
        default_factory=list,
        description="The ghost's profit at each tick (null before the player chose federated).",
    )


# ---------------------------------------------------------------- frames (server -> client)


class SnapshotFrame(BaseModel):
    """Everything the dashboard needs to draw from scratch: on connect and after a reset."""

    type: Literal["snapshot"] = "snapshot"
    seq: int = Field(0, description="The connection's frame counter (snapshots and deltas).")
    session_id: str = Field("", description="The saved game's id: send it back to resume.")
    resumed: bool = Field(False, description="True when this is a saved game picked up again.")
    notice: str | None = Field(
        None, description="Something the player should know, e.g. why a saved game was not found."
    )
    config: GameConfig
    models: ModelMetrics
    state: GameStateView
    history: History


class DeltaFrame(BaseModel):
    """What changed since the previous frame: `patch` turns its state into this one's.

    `points` are the profit-history points of every tick played since the previous frame.
    """

    type: Literal["delta"] = "delta"
    seq: int
    tick: int = Field(description="The game's tick after the patch (the state's `tick`).")
    patch: dict[str, Any] = Field(description="See docs/protocol.md, 'The patch format'.")
    points: History


class ErrorFrame(BaseModel):
    """A message the server could not act on, and why; the session goes on.

    `code` (left out when None) marks the one lasting fault a client may show until it ends:
    "not_saved", the game is not being saved (a `NoticeFrame` "saved" says when it is again).
    """

    type: Literal["error"] = "error"
    message: str
    code: Literal["not_saved"] | None = None


class NoticeFrame(BaseModel):
    """News about the game that needs no answer: "saved", it is being saved again."""

    type: Literal["notice"] = "notice"
    code: Literal["saved"]
    message: str


ServerFrame = SnapshotFrame | DeltaFrame | ErrorFrame | NoticeFrame

# ---------------------------------------------------------------- commands (client -> server)
# In `app.web.command_schemas`, re-exported here so the contract has one import.

from app.web.command_schemas import (  # noqa: E402
    COMMAND_ADAPTER,
    COMMAND_TYPES,
    AcceptFederation,
    Ack,
    Command,
    FreePlay,
    HireDataScientist,
    Pause,
    Reset,
    Resume,
    SetSpeed,
    SetStrategy,
    Step,
    UseDefaultModel,
)

__all__ = [
    "COMMAND_ADAPTER",
    "COMMAND_TYPES",
    "AcceptFederation",
    "Ack",
    "Command",
    "FreePlay",
    "HireDataScientist",
    "Pause",
    "Reset",
    "Resume",
    "SetSpeed",
    "SetStrategy",
    "Step",
    "UseDefaultModel",
]

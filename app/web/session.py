"""One player's game session: the game state, its pace, its history, and what each command does.

No networking here (that is `app.web.connection`): a session takes commands and ticks and answers
with frames, so it reads as the list of what the dashboard's buttons do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.game import progress as progress_rules
from app.game.engines import EngineTrace
from app.game.history import ProfitHistory, ProfitPoint
from app.game.progress import GameRuleError
from app.game.simulation import new_game, step
from app.web.schemas import (
    AcceptFederation,
    Command,
    FreePlay,
    GameConfig,
    GameStateView,
    HireDataScientist,
    ModelMetrics,
    Pause,
    Reset,
    Resume,
    SetSpeed,
    SetStrategy,
    SnapshotFrame,
    Step,
    TickFrame,
)
from app.web.settings import Settings
from app.web.views import game_state_view, history_point_view, history_view


@dataclass(frozen=True)
class Reply:
    """What a command asks the connection to send: a fresh snapshot or the current state.

    `pace_changed` tells the connection to restart its tick timer (speed, pause, resume, reset).
    """

    frame: SnapshotFrame | TickFrame
    pace_changed: bool = False


class GameSession:
    """A game played by one connection; commands that break a rule raise `GameRuleError`."""

    def __init__(
        self,
        settings: Settings,
        pool: Sequence[EngineTrace],
        config: GameConfig,
        models: ModelMetrics,
        seed: int | None = None,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.config = config
        self.models = models
        self.running = True
        self.ticks_per_second = settings.default_ticks_per_second
        self._start(settings.seed if seed is None else seed, free_play=False)

    def _start(self, seed: int, *, free_play: bool) -> None:
        self.state = new_game(self.pool, self.settings.game, seed, free_play=free_play)
        self.history = ProfitHistory(self.settings.history_limit)
        self.history.record(self.state)

    # ---------------------------------------------------------------- frames

    def snapshot(self) -> SnapshotFrame:
        """Everything a dashboard needs to draw this session from scratch."""
        return SnapshotFrame(
            config=self.config,
            models=self.models,
            state=self._state_view(),
            history=history_view(self.history),
        )

    def current(self) -> TickFrame:
        """The current state as a tick frame (its history point repeats the latest tick)."""
        return TickFrame(
            state=self._state_view(), history_point=history_point_view(ProfitPoint.of(self.state))
        )

    def _state_view(self) -> GameStateView:
        return game_state_view(
            self.state, self.pool, running=self.running, ticks_per_second=self.ticks_per_second
        )

    # ---------------------------------------------------------------- time

    def tick(self) -> TickFrame:
        """Play one tick and record its profits; the season's end pauses the game for its results."""
        self.state = step(self.state, self.pool, self.settings.game)
        if self.state.season.finished_tick == self.state.tick:
            self.running = False  # "keep playing" is a resume
        point = self.history.record(self.state)
        return TickFrame(state=self._state_view(), history_point=history_point_view(point))

    @property
    def tick_interval(self) -> float | None:
        """Seconds between ticks, or None while paused."""
        if not self.running or self.ticks_per_second <= 0:
            return None
        return 1.0 / self.ticks_per_second

    # ---------------------------------------------------------------- commands

    def handle(self, command: Command) -> Reply:
        """Apply one command; the reply is the frame to send back."""
        game = self.settings.game
        match command:
            case SetStrategy(strategy=strategy):
                self.state = progress_rules.set_strategy(self.state, strategy, game)
            case SetSpeed(ticks_per_second=speed):
                limit = self.settings.max_ticks_per_second
                if speed > limit:
                    raise GameRuleError(
                        f"ticks_per_second must be between 0 and {limit:g} (0 pauses), "
                        f"got {speed:g}"
                    )
                self.ticks_per_second = speed
                self.running = speed > 0
                return Reply(self.current(), pace_changed=True)
            case Pause():
                self.running = False
                return Reply(self.current(), pace_changed=True)
            case Resume():
                if self.ticks_per_second <= 0:
                    self.ticks_per_second = self.settings.default_ticks_per_second
                self.running = True
                return Reply(self.current(), pace_changed=True)
            case Step():
                return Reply(self.tick())
            case Reset(seed=seed):
                self._start(
                    self.state.seed if seed is None else seed,
                    free_play=self.state.progress.free_play,
                )
                return Reply(self.snapshot(), pace_changed=True)
            case HireDataScientist():
                self.state = progress_rules.hire_data_scientist(self.state, game)
            case AcceptFederation():
                self.state = progress_rules.accept_federation(self.state, game)
            case FreePlay(enabled=enabled):
                self.state = progress_rules.set_free_play(self.state, enabled, game)
            case _:  # a new command type without a rule here is a bug, not a client error
                raise TypeError(f"no handler for command {command!r}")
        return Reply(self.current())

"""One game: its state, pace and history, what each command does, and how it is saved.

No networking and no timing here (`app.web.live` runs a session on a clock for its connections):
a session takes commands and tick counts, so it reads as the list of what the dashboard's buttons
do. Ticks go through `app.game.fast.FastGame`, which `tests/test_fast_game.py` holds equal to the
reference rule book `app.game.simulation.step`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from app.game import progress as progress_rules
from app.game.codec import state_from_dict, state_to_json
from app.game.decisions import DecisionTables
from app.game.engines import EngineTrace
from app.game.fast import FastGame
from app.game.history import ProfitHistory, ProfitPoint
from app.game.progress import GameRuleError
from app.game.simulation import new_game
from app.game.state import GameState
from app.web.deployments import Deployment
from app.web.schemas import (
    AcceptFederation,
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
from app.web.settings import Settings
from app.web.state_view import StateViewBuilder, View

SAVE_FORMAT = 1
DEFAULT_MODEL = "default"


@dataclass(frozen=True)
class Outcome:
    """What a command changed: the game was started over (`restarted`), the pace changed."""

    restarted: bool = False
    pace_changed: bool = False


class GameSession:
    """A game played by one or more connections; commands that break a rule raise `GameRuleError`."""

    def __init__(
        self,
        settings: Settings,
        pool: Sequence[EngineTrace],
        tables: DecisionTables,
        seed: int | None = None,
    ) -> None:
        self.settings = settings
        self.pool = self.default_pool = pool
        self.tables = self.default_tables = tables
        self.deployment: Deployment | None = None  # a lab model's, behind the federated strategy
        self.running = True
        self.ticks_per_second = settings.default_ticks_per_second
        self.version = 0  # bumped whenever what a frame shows changes
        self.federated_model = DEFAULT_MODEL  # what the federated strategy's predictions are
        self._start(settings.seed if seed is None else seed, free_play=False)

    def _start(self, seed: int, *, free_play: bool) -> None:
        self._set_state(new_game(self.pool, self.settings.game, seed, free_play=free_play))
        self.history = ProfitHistory(self.settings.history_limit)
        self.history.record(self.state)

    def _set_state(self, state: GameState) -> None:
        self._game = FastGame.from_state(state, self.pool, self.settings.game, self.tables)
        self._state: GameState | None = state
        self._views = StateViewBuilder(
            self.pool, self.federated_model, self.settings.game.decision, self.settings.game
        )
        self._view: tuple[int, View] | None = None
        self.version += 1

    @property
    def state(self) -> GameState:
        if self._state is None:
            self._state = self._game.state()
        return self._state

    @property
    def tick(self) -> int:
        return self._game.tick

    # ---------------------------------------------------------------- time

    def advance(self, n_ticks: int) -> int:
        """Play up to `n_ticks` ticks; the season's end pauses the game. Returns ticks played."""
        played = 0
        while played < n_ticks and self.running:
            self._game.step()
            self._state = None
            played += 1
            self.history.append(self._game.profit_point())
            if self._game.season.finished_tick == self._game.tick:
                self.running = False  # "keep playing" is a resume
        if played:
            self.version += 1
        return played

    @property
    def tick_interval(self) -> float | None:
        """Seconds between ticks, or None while paused."""
        if not self.running or self.ticks_per_second <= 0:
            return None
        return 1.0 / self.ticks_per_second

    # ---------------------------------------------------------------- frames

    def view(self) -> View:
        """The state as frames send it (built once per version, whoever asks), with the lab
        model that decides (`lab_model`, the same object until another is deployed)."""
        if self._view is None or self._view[0] != self.version:
            view = self._views.build_fast(
                self._game, running=self.running, ticks_per_second=self.ticks_per_second
            )
            view["lab_model"] = None if self.deployment is None else self.deployment.view
            self._view = (self.version, view)
        return self._view[1]

    def patch(self, sent: View, view: View) -> dict[str, Any]:
        """The patch from a view sent earlier to `view` (both made by this session)."""
        if sent is view:
            return {}
        patch = self._views.patch(sent, view)
        lab = view.get("lab_model")
        if sent.get("lab_model") is not lab:  # an object replaces (docs/protocol.md)
            patch["lab_model"] = None if lab is None else {"=": lab}
        return patch

    def deploy(self, deployment: Deployment | None) -> None:
        """Play on with a lab model's predictions (the same engines, another federated model)
        from the next decision on, or with the default model's (None). Lasts as `KEPT` says."""
        pool = self.default_pool if deployment is None else deployment.pool
        if len(pool) != len(self.default_pool):
            raise ValueError(f"a deployed pool must hold the same {len(self.default_pool)} engines")
        state = self.state
        self.deployment = deployment
        self.pool = pool
        self.tables = self.default_tables if deployment is None else deployment.tables
        self.federated_model = DEFAULT_MODEL if deployment is None else deployment.label
        self._set_state(state)

    # ---------------------------------------------------------------- commands

    def handle(self, command: Command) -> Outcome:
        """Apply one command."""
        outcome = self._apply(command)
        self.version += 1
        return outcome

    def _apply(self, command: Command) -> Outcome:
        game = self.settings.game
        match command:
            case SetStrategy(strategy=strategy):
                self._set_state(progress_rules.set_strategy(self.state, strategy, game))
            case SetSpeed(ticks_per_second=speed):
                low, high = self.settings.min_ticks_per_second, self.settings.max_ticks_per_second
                if speed != 0 and not low <= speed <= high:
                    raise GameRuleError(
                        f"ticks_per_second must be 0 (pause) or from {low:g} to {high:g}, "
                        f"got {speed:g}"
                    )
                self.ticks_per_second = speed
                self.running = speed > 0
                return Outcome(pace_changed=True)
            case Pause():
                self.running = False
                return Outcome(pace_changed=True)
            case Resume():
                if self.ticks_per_second <= 0:
                    self.ticks_per_second = self.settings.default_ticks_per_second
                self.running = True
                return Outcome(pace_changed=True)
            case Step():
                running, self.running = self.running, True
                self.advance(1)
                self.running = running and self.running
            case Reset(seed=seed):
                if self.deployment is not None:  # a new game starts on the default model
                    self.deploy(None)
                self._start(
                    self.state.seed if seed is None else seed,
                    free_play=self.state.progress.free_play,
                )
                return Outcome(restarted=True, pace_changed=True)
            case HireDataScientist():
                self._set_state(progress_rules.hire_data_scientist(self.state, game))
            case AcceptFederation():
                self._set_state(progress_rules.accept_federation(self.state, game))
            case FreePlay(enabled=enabled):
                self._set_state(progress_rules.set_free_play(self.state, enabled, game))
            case UseDefaultModel():
                if self.deployment is None:
                    raise GameRuleError("the default federated model already decides")
                self.deploy(None)
            case _:  # a new command type without a rule here is a bug, not a client error
                raise TypeError(f"no handler for command {command!r}")
        return Outcome()

    # ---------------------------------------------------------------- saving

    def saved(self) -> dict[str, Any]:
        """The session as saved (without its history, which is saved in chunks)."""
        saved: dict[str, Any] = orjson.loads(self.saved_json())
        return saved

    def saved_json(self) -> bytes:
        """`saved()` as JSON, fast (hundreds of games are saved every second). A lab model is
        named (`lab_model`), never saved: a game resumed without it says so."""
        pace = orjson.dumps(
            {
                "format": SAVE_FORMAT,
                "running": self.running,
                "ticks_per_second": self.ticks_per_second,
                **({} if self.deployment is None else {"lab_model": self.deployment.label}),
            }
        )
        return pace[:-1] + b',"state":' + state_to_json(self.state) + b"}"

    @classmethod
    def restore(
        cls,
        settings: Settings,
        pool: Sequence[EngineTrace],
        tables: DecisionTables,
        saved: dict[str, Any],
        points: Sequence[ProfitPoint],
    ) -> GameSession:
        """A saved session, as it was; raises ValueError when the record is not one."""
        if not isinstance(saved, dict) or saved.get("format") != SAVE_FORMAT:
            raise ValueError(f"not a saved game of format {SAVE_FORMAT}")
        speed = saved.get("ticks_per_second")
        running = saved.get("running")
        if not isinstance(speed, int | float) or not isinstance(running, bool):
            raise ValueError("a saved game without a valid pace")
        state = state_from_dict(saved["state"])
        if any(not 0 <= s.engine < len(pool) for f in state.factories for s in f.slots):
            raise ValueError("a saved game for another engine pool")
        session = cls(settings, pool, tables, seed=state.seed)
        session._set_state(state)
        session.running = running
        session.ticks_per_second = min(float(speed), settings.max_ticks_per_second)
        session.history = ProfitHistory(settings.history_limit)
        for point in points:
            if point.tick <= state.tick:
                session.history.append(point)
        session.history.append(ProfitPoint.of(state))
        return session

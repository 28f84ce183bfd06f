"""A session plays at the speed it was set to: the tick schedule driven by a clock we control."""

from __future__ import annotations

import pytest

from app.game.engines import GameModels
from app.web.pacing import TickSchedule
from app.web.schemas import Pause, Resume, SetSpeed
from app.web.session import GameSession
from app.web.settings import Settings
from app.web.views import game_config, model_metrics


class FakeClock:
    """Seconds that pass only when the test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _session(game_models: GameModels, settings: Settings) -> GameSession:
    config = game_config(settings, game_models.feature_names)
    return GameSession(settings, game_models.traces, config, model_metrics(game_models.metrics))


def _ticks_in(
    session: GameSession, clock: FakeClock, schedule: TickSchedule, seconds: float
) -> int:
    """Play the session as the connection's ticker does, for `seconds` of the fake clock."""
    end = clock.now + seconds
    played = 0
    while (interval := session.tick_interval) is not None:
        wait = schedule.next_wait(interval)
        if clock.now + wait > end + 1e-9:
            break
        clock.now += wait
        session.tick()
        played += 1
    clock.now = end
    return played


@pytest.mark.parametrize("speed", [1.0, 5.0, 20.0, 50.0])
def test_a_session_plays_exactly_its_speed(game_models: GameModels, speed: float) -> None:
    settings = Settings()
    session = _session(game_models, settings)
    clock = FakeClock()
    schedule = TickSchedule(clock)
    session.handle(SetSpeed(type="set_speed", ticks_per_second=speed))
    assert session.tick_interval == pytest.approx(1.0 / speed)
    schedule.restart()
    assert _ticks_in(session, clock, schedule, 10.0) == round(10 * speed)
    assert session.state.tick == round(10 * speed)


def test_the_default_speed_is_the_settings_speed_and_pause_stops_ticks(
    game_models: GameModels,
) -> None:
    settings = Settings(default_ticks_per_second=4.0)
    session = _session(game_models, settings)
    clock = FakeClock()
    schedule = TickSchedule(clock)
    assert _ticks_in(session, clock, schedule, 5.0) == 20
    session.handle(Pause(type="pause"))
    assert session.tick_interval is None
    assert _ticks_in(session, clock, schedule, 5.0) == 0
    session.handle(Resume(type="resume"))
    schedule.restart()
    assert _ticks_in(session, clock, schedule, 2.5) == 10


def test_a_late_ticker_catches_up_at_most_the_lag_limit() -> None:
    clock = FakeClock()
    schedule = TickSchedule(clock, max_lag_s=1.0)
    assert schedule.next_wait(0.1) == pytest.approx(0.1)
    clock.now += 0.1
    clock.now += 5.0  # the machine stalled for 5 s
    # Behind by more than the limit: the schedule restarts from now instead of a 50-tick burst.
    assert schedule.next_wait(0.1) == 0.0
    assert schedule.next_wait(0.1) == pytest.approx(0.1)

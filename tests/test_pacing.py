"""A game plays at the speed it was set to: the tick clock driven by a clock we control.

The loop here is the one `app.web.live.LiveGame` runs: wait `clock.wait(speed)`, then play
`clock.due(speed)` ticks. Pinned: a ticker that ignored the speed would fail these.
"""

from __future__ import annotations

import pytest
from crafted_engines import noisy_pool

from app.game.decisions import DecisionTables
from app.web.pacing import TickClock
from app.web.schemas import Pause, Resume, SetSpeed
from app.web.session import GameSession
from app.web.settings import Settings

POOL = noisy_pool()


class FakeClock:
    """Seconds that pass only when the test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _session(settings: Settings) -> GameSession:
    return GameSession(settings, POOL, DecisionTables(POOL, settings.game))


def _play(session: GameSession, clock: FakeClock, ticks: TickClock, seconds: float) -> list[int]:
    """Run the ticker loop for `seconds` of the fake clock; the ticks played at each wake-up."""
    end = clock.now + seconds
    wakes = []
    while session.tick_interval is not None:
        wait = ticks.wait(session.ticks_per_second)
        if clock.now + wait > end + 1e-9:
            break
        clock.now += wait
        wakes.append(session.advance(ticks.due(session.ticks_per_second)))
    clock.now = end
    return wakes


@pytest.mark.parametrize("speed", [0.5, 1.0, 5.0, 20.0, 50.0])
def test_a_game_plays_exactly_its_speed_in_at_most_20_frames_a_second(speed: float) -> None:
    settings = Settings()
    session = _session(settings)
    clock = FakeClock()
    ticks = TickClock(clock, frames_per_second=20)
    session.handle(SetSpeed(type="set_speed", ticks_per_second=speed))
    ticks.restart()
    wakes = _play(session, clock, ticks, 10.0)
    assert sum(wakes) == session.tick == round(10 * speed)
    assert len(wakes) <= 10 * 20  # frames: ticks batch at high speed
    if speed > 20:
        assert max(wakes) >= 2


def test_the_default_speed_is_the_settings_speed_and_pause_stops_ticks() -> None:
    settings = Settings(default_ticks_per_second=4.0)
    session = _session(settings)
    clock = FakeClock()
    ticks = TickClock(clock)
    assert sum(_play(session, clock, ticks, 5.0)) == 20
    session.handle(Pause(type="pause"))
    assert session.tick_interval is None
    assert _play(session, clock, ticks, 5.0) == []
    session.handle(Resume(type="resume"))
    ticks.restart()
    assert sum(_play(session, clock, ticks, 2.5)) == 10


def test_a_late_ticker_catches_up_at_most_the_lag_limit() -> None:
    clock = FakeClock()
    ticks = TickClock(clock, frames_per_second=20, max_lag_s=1.0)
    clock.now += 0.1
    assert ticks.due(10.0) == 1
    clock.now += 5.0  # the machine stalled for 5 s
    # Behind by more than the limit: at most a second's worth of ticks, not a 50-tick burst.
    assert ticks.due(10.0) == 10
    assert ticks.wait(10.0) == pytest.approx(0.1)
    clock.now += 0.1
    assert ticks.due(10.0) == 1

"""How many ticks a game owes and when to wake up next, on a clock tests can drive.

Ticks are counted from when the pace was last set, not from the previous wake-up, so a game at
50 ticks/s plays 50 ticks a second however late each wake-up is. Frames are capped at
`frames_per_second`: at high speed a wake-up plays the 2-3 ticks that came due since the last.
A game that falls more than `max_lag_s` behind (a busy machine) drops that backlog instead of
bursting through it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

Clock = Callable[[], float]


class TickClock:
    """The ticks due at a given speed since the pace was last set."""

    def __init__(
        self, clock: Clock = time.monotonic, frames_per_second: float = 20.0, max_lag_s: float = 1.0
    ) -> None:
        self._clock = clock
        self._frame_interval = 1.0 / frames_per_second
        self._max_lag_s = max_lag_s
        self.restart()

    def restart(self) -> None:
        """Count afresh from now (after a change of pace)."""
        self._start = self._clock()
        self._next_frame = self._start + self._frame_interval
        self._played = 0

    def wait(self, speed: float) -> float:
        """Seconds until the next wake-up: the next tick's time, but no sooner than a frame."""
        now = self._clock()
        next_tick = self._start + (self._played + 1) / speed
        return max(0.0, next_tick - now, self._next_frame - now)

    def due(self, speed: float) -> int:
        """Ticks to play now (and count them as played)."""
        now = self._clock()
        # Frames keep to a grid: a late wake-up does not push every later frame back (gaps stay
        # one interval, not an interval plus the delay), and a very late one does not burst.
        interval = self._frame_interval
        self._next_frame = max(self._next_frame + interval, now + interval / 2)
        target = math.floor((now - self._start) * speed + 1e-9)
        owed = target - self._played
        cap = max(1, math.ceil(speed * self._max_lag_s))
        if owed > cap:  # too far behind: let the backlog go
            self._played = target - cap
            owed = cap
        self._played += max(0, owed)
        return max(0, owed)

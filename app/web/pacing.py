"""When a session's next tick is due: a deadline schedule on a clock that tests can drive.

Deadlines advance by the interval from the previous deadline, not from "now", so a session at
50 ticks/s plays 50 ticks a second even though each tick takes some time. A schedule that falls
more than `max_lag_s` behind (a busy machine) stops trying to catch up instead of bursting.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]


class TickSchedule:
    """The deadline of the next tick."""

    def __init__(self, clock: Clock = time.monotonic, max_lag_s: float = 1.0) -> None:
        self._clock = clock
        self._max_lag_s = max_lag_s
        self._deadline = clock()

    def restart(self) -> None:
        """Time afresh from now (after a change of pace)."""
        self._deadline = self._clock()

    def next_wait(self, interval: float) -> float:
        """Move the deadline one `interval` on; the seconds to wait from now until it."""
        self._deadline += interval
        now = self._clock()
        if self._deadline < now - self._max_lag_s:
            self._deadline = now
        return max(0.0, self._deadline - now)

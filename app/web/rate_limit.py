"""A token bucket per connection: commands are cheap to send and not free to play.

2,000 `step` commands in one burst used to play 2,000 ticks (3.8 s of the event loop). A bucket
lets a person click as fast as they like (`burst` at once, `rate` a second on average) and turns
a flood into dropped commands with one error frame a second saying how many. The first drop is
reported at once; the ones after it are counted, and the connection asks `report_due_in` when to
report them, so a flood that ends within the second is still counted in full (a 10,000-command
flood used to be reported as "1 dropped").
"""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """`take()` is True while tokens are left; they come back at `rate` per second."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()
        self.dropped = 0  # refused since the last report
        self._reported_at = float("-inf")

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        self.dropped += 1
        return False

    def report_due_in(self) -> float | None:
        """Seconds until `report()` may tell of the drops not yet reported (None: there are none)."""
        if not self.dropped:
            return None
        return max(0.0, self._reported_at + 1.0 - self._clock())

    def report(self) -> str | None:
        """A message about dropped commands, at most once a second (None when quiet)."""
        now = self._clock()
        if not self.dropped or now - self._reported_at < 1.0:
            return None
        count, self.dropped = self.dropped, 0
        self._reported_at = now
        return (
            f"too many commands: {count} dropped (the limit is {self.rate:g} a second, "
            f"{self.burst} at once); wait a moment and try again"
        )

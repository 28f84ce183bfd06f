"""Profit over time for each factory of a game, bounded so a long game cannot grow it forever.

It lives beside the game state rather than in it: the rule book never needs the past, and a
state that carried a growing history would make every tick cost more than the one before.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from app.game.state import GameState


@dataclass(frozen=True)
class ProfitPoint:
    """One tick's profit per factory name."""

    tick: int
    profit: dict[str, float]
    ghost: float | None = None  # the ghost's profit, once there is a ghost

    @staticmethod
    def of(state: GameState) -> ProfitPoint:
        """The state's profits as one point."""
        return ProfitPoint(
            tick=state.tick,
            profit={f.name: f.profit for f in state.factories},
            ghost=None if state.ghost is None else state.ghost.factory.profit,
        )


_RECENT = 256  # points kept as objects for `since`; older ones are rebuilt from the columns


class ProfitHistory:
    """The latest `limit` (tick, profit per factory) points of a game."""

    def __init__(self, limit: int) -> None:
        self._ticks: deque[int] = deque(maxlen=limit)
        self._profits: dict[str, deque[float]] = {}
        self._ghost: deque[float | None] = deque(maxlen=limit)
        self._limit = limit
        # The latest points as recorded: what a frame appends, found without rebuilding them.
        self._recent: deque[ProfitPoint] = deque(maxlen=min(limit, _RECENT))

    def record(self, state: GameState) -> ProfitPoint:
        """Append the state's profits (once per tick: a repeated tick is not appended again)."""
        point = ProfitPoint.of(state)
        self.append(point)
        return point

    @property
    def ticks(self) -> list[int]:
        return list(self._ticks)

    @property
    def ghost(self) -> list[float | None]:
        return list(self._ghost)

    @property
    def profits(self) -> dict[str, list[float]]:
        return {name: list(values) for name, values in self._profits.items()}

    def append(self, point: ProfitPoint) -> None:
        """Append a point (once per tick: a repeated tick is not appended again)."""
        if self._ticks and self._ticks[-1] >= point.tick:
            return
        self._ticks.append(point.tick)
        self._recent.append(point)
        self._ghost.append(point.ghost)
        for name, profit in point.profit.items():
            self._profits.setdefault(name, deque(maxlen=self._limit)).append(profit)

    @property
    def last_tick(self) -> int | None:
        return self._ticks[-1] if self._ticks else None

    def since(self, tick: int | None) -> list[ProfitPoint]:
        """The points after `tick` (all of them for None), oldest first: what a frame appends."""
        recent = self._recent
        if tick is not None and recent and recent[0].tick <= tick:
            fresh: list[ProfitPoint] = []
            for point in reversed(recent):
                if point.tick <= tick:
                    break
                fresh.append(point)
            fresh.reverse()
            return fresh
        points: list[ProfitPoint] = []
        names = list(self._profits)
        for k in range(len(self._ticks) - 1, -1, -1):
            at = self._ticks[k]
            if tick is not None and at <= tick:
                break
            profit = {name: self._profits[name][k] for name in names}
            points.append(ProfitPoint(at, profit, self._ghost[k]))
        points.reverse()
        return points

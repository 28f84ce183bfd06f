"""Profit over time for each factory of a session, bounded so a long session cannot grow it forever.

It lives beside the game state rather than in it: the rule book never needs the past, and a
state that carried a growing history would make every tick cost more than the one before.
"""

from __future__ import annotations

from collections import deque

from app.schemas import History, HistoryPoint
from app.state import GameState


class ProfitHistory:
    """The latest `limit` (tick, profit per factory) points of a game."""

    def __init__(self, limit: int) -> None:
        self._ticks: deque[int] = deque(maxlen=limit)
        self._profits: dict[str, deque[float]] = {}
        self._limit = limit

    def record(self, state: GameState) -> HistoryPoint:
        """Append the state's profits (once per tick: a repeated tick is not appended again)."""
        point = self.point(state)
        if self._ticks and self._ticks[-1] >= state.tick:
            return point
        self._ticks.append(state.tick)
        for name, profit in point.profit.items():
            self._profits.setdefault(name, deque(maxlen=self._limit)).append(profit)
        return point

    @staticmethod
    def point(state: GameState) -> HistoryPoint:
        """The state's profits as one history point, without recording it."""
        return HistoryPoint(tick=state.tick, profit={f.name: f.profit for f in state.factories})

    def to_model(self) -> History:
        """The whole kept history, as sent in a snapshot."""
        return History(
            tick=list(self._ticks), profit={name: list(v) for name, v in self._profits.items()}
        )

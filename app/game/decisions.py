"""Every maintenance decision of an engine pool, looked up instead of recomputed.

`strategies.should_maintain` is cheap once, but a server asks it for every running slot of every
game every tick. A strategy's answer depends only on (strategy, node, engine, cycle), and all of
them are known once the pool and the settings are, so one `DecisionTables` per pool and settings
answers for every game of a server: built lazily per (strategy, node) and then read-only.

Two tables per (strategy, node):
- `maintain(...)[engine][cycle]` is `should_maintain` itself for every cycle 1..n_cycles (index 0
  is never asked), so a strategy switched on mid-engine still maintains at once when past its
  threshold, exactly as the rule book does.
- `next_stop(...)[engine][cycle]` is, for an engine that has run `cycle` cycles (0..n_cycles-1),
  the first later cycle after which the slot leaves: maintained (the first cycle whose decision
  is "maintain") or failed (the last cycle). The fast path uses it to know, the moment an engine
  is installed or a strategy chosen, on which tick that slot next needs any attention.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from app.game.engines import EngineTrace
from app.game.settings import GameSettings
from app.game.strategies import ORACLE, POLICIES


class DecisionTables:
    """The decisions of one pool under one settings, shared by every game that plays them.

    Not thread-safe while a table is first built (two threads may build the same table twice,
    harmlessly); the tables are plain lists so an O(1) lookup costs two list indexings.
    """

    def __init__(self, pool: Sequence[EngineTrace], settings: GameSettings) -> None:
        if not pool:
            raise ValueError("the engine pool is empty: the game needs at least one engine trace")
        self.pool: tuple[EngineTrace, ...] = tuple(pool)
        self._source = pool
        self.settings = settings
        self.n_cycles: list[int] = [int(trace.n_cycles) for trace in self.pool]
        short = [t.engine_id for t, n in zip(self.pool, self.n_cycles, strict=True) if n < 1]
        if short:
            raise ValueError(f"engines with no cycles cannot be played: {', '.join(short)}")
        self.engine_ids: list[str] = [trace.engine_id for trace in self.pool]
        self._maintain: dict[tuple[str, int], list[list[bool]]] = {}
        self._next_stop: dict[tuple[str, int], list[list[int]]] = {}

    def built_on(self, pool: Sequence[EngineTrace], settings: GameSettings) -> bool:
        """Whether these tables answer for `pool` and `settings` (identity first: it is cheap)."""
        same_pool = pool is self._source or (
            len(pool) == len(self.pool)
            and all(a is b for a, b in zip(pool, self.pool, strict=True))
        )
        return same_pool and (settings is self.settings or settings == self.settings)

    @staticmethod
    def _key(strategy: str, node: int) -> tuple[str, int]:
        """Only local predictive depends on the node; every other policy shares node 0's table."""
        if strategy not in POLICIES:
            raise ValueError(f"unknown policy {strategy!r}; expected one of {', '.join(POLICIES)}")
        return (strategy, node if strategy == "local" else 0)

    def maintain(self, strategy: str, node: int = 0) -> list[list[bool]]:
        """`[engine][cycle]`: whether `strategy` maintains after `cycle` (1-based; [0] is False)."""
        key = self._key(strategy, node)
        table = self._maintain.get(key)
        if table is None:
            table = [self._engine_decisions(key[0], key[1], e) for e in range(len(self.pool))]
            self._maintain[key] = table
        return table

    def next_stop(self, strategy: str, node: int = 0) -> list[list[int]]:
        """`[engine][cycle]`: the cycle after which a slot at `cycle` next leaves (see module)."""
        key = self._key(strategy, node)
        table = self._next_stop.get(key)
        if table is None:
            table = [_stops(decisions) for decisions in self.maintain(strategy, node)]
            self._next_stop[key] = table
        return table

    def should_maintain(self, strategy: str, engine: int, cycle: int, node: int = 0) -> bool:
        """`strategies.should_maintain` for the pool's `engine`, by lookup."""
        return self.maintain(strategy, node)[engine][cycle]

    def _engine_decisions(self, strategy: str, node: int, engine: int) -> list[bool]:
        """One engine's decisions, vectorized as the rule book's scalar comparisons are."""
        trace = self.pool[engine]
        n = self.n_cycles[engine]
        settings = self.settings
        threshold = settings.rul_threshold
        cycles = np.arange(1, n + 1)
        if strategy == "corrective":
            decided = np.zeros(n, dtype=bool)
        elif strategy == "preventative":
            decided = cycles >= settings.preventative_cycle
        elif strategy == "local":
            decided = trace.lower_bound("local", settings.decision, node)[:n] < threshold
        elif strategy == "federated":
            decided = trace.lower_bound("federated", settings.decision)[:n] < threshold
        elif strategy == ORACLE:
            decided = cycles >= n
        else:  # pragma: no cover - _key refuses other names
            raise ValueError(f"unknown policy {strategy!r}")
        return [False, *(bool(d) for d in decided.tolist())]


def _stops(decisions: list[bool]) -> list[int]:
    """From `[cycle] -> maintain?` (1..n), `[cycle] -> next leaving cycle` (0..n-1)."""
    n = len(decisions) - 1
    stops = [n] * n
    upcoming = n
    for cycle in range(n - 1, -1, -1):
        if decisions[cycle + 1]:
            upcoming = cycle + 1
        stops[cycle] = upcoming
    return stops

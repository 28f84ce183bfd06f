"""The names of the maintenance policies, apart from their rules so settings can name them."""

from __future__ import annotations

from typing import Literal, get_args

StrategyName = Literal["corrective", "preventative", "local", "federated"]
# Game strategies, from worst to best: also the order of unlocks.
STRATEGIES: tuple[StrategyName, ...] = get_args(StrategyName)
# The player's edge: competitors may never use it.
PLAYER_ONLY: StrategyName = "federated"
# Policies the analysis may also run; never offered in the game.
ORACLE = "oracle"
POLICIES: tuple[str, ...] = (*STRATEGIES, ORACLE)

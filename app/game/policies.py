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
# How a predictive strategy reads its model: "calibrated" maintains when the prediction minus the
# model's margin (its 90% quantile of over-prediction late in its training engines' lives) is below
# the threshold; "raw" is FF09's plain rule on the prediction itself.
Decision = Literal["calibrated", "raw"]
DECISIONS: tuple[Decision, ...] = get_args(Decision)

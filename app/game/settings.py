"""Every figure of the rule book, in one validated model.

The numbers live here so a test or a player can change them without touching the rules; the
server's settings (`app.web.settings`) embed this model, never the other way round.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from app.game.policies import PLAYER_ONLY, Decision, StrategyName


class GameSettings(BaseModel):
    """The money, time and unlock figures of the rule book (defaults from the original game)."""

    revenue_per_cycle: float = Field(
        250.0, ge=0, description="Dollars earned by each running cycle."
    )
    maintenance_cost: float = Field(10_000.0, ge=0, description="Dollars one maintenance costs.")
    maintenance_downtime: int = Field(
        20, ge=0, description="Ticks a slot sits out after a maintenance."
    )
    failure_cost: float = Field(60_000.0, ge=0, description="Dollars one engine failure costs.")
    failure_downtime: int = Field(60, ge=0, description="Ticks a slot sits out after a failure.")
    preventative_cycle: int = Field(
        193, ge=1, description="Preventative maintains after this cycle."
    )
    rul_threshold: float = Field(
        10.0, description="Predictive maintains when predicted RUL < this."
    )
    decision: Decision = Field(
        "calibrated",
        description="How predictive strategies read a model: 'calibrated' maintains when the "
        "prediction minus the model's margin (its 90% over-prediction late in life, measured on "
        "its training engines) is below the threshold; 'raw' is FF09's rule on the prediction.",
    )
    n_slots: int = Field(4, ge=1, le=16, description="Turbofan slots per factory.")
    n_competitors: int = Field(3, ge=0, le=3, description="Competitor factories beside the player.")
    failures_to_unlock_preventative: int = Field(
        4, ge=0, description="Player failures after which preventative maintenance unlocks."
    )
    hire_offer_after_stops: int = Field(
        1,
        ge=0,
        description="Engines the player's factory stops (maintained or failed) beyond the "
        "failures that unlock preventative before a data scientist is offered, so the offer "
        "comes after the unlock, not with it (0: with it).",
    )
    federation_offer_after_cycles: int = Field(
        100,
        ge=0,
        description="Ticks the player's factory ends on local predictive before the federation "
        "offer (a tick is one cycle of the game clock).",
    )
    fair_draws: bool = Field(
        True,
        description="Every factory gets the same engine sequence per slot (off: independent).",
    )
    recent_events: int = Field(20, ge=1, description="How many recent events a game state keeps.")
    season_goal: float = Field(
        3_000_000.0, gt=0, description="Dollars that win the season (the first factory there)."
    )
    player_name: str = "Your factory"
    competitor_names: list[str] = ["Rustbelt Rotors", "Clockwork Turbines", "Solo Sensors Inc."]
    competitor_strategies: list[StrategyName] = Field(
        ["corrective", "preventative", "local"],
        description="Strategy of each competitor, in the order of `competitor_names`.",
    )
    competitor_cap: list[StrategyName] = Field(
        ["corrective", "preventative", "local"],
        description="Strategies a competitor may use: never federated, the player's edge.",
    )

    @model_validator(mode="after")
    def _competitors_are_consistent(self) -> GameSettings:
        """Refuse settings that would make an unplayable or ambiguous game, saying why."""
        n = self.n_competitors
        if len(self.competitor_names) < n or len(self.competitor_strategies) < n:
            raise ValueError(
                f"n_competitors is {n} but only {len(self.competitor_names)} competitor names "
                f"and {len(self.competitor_strategies)} competitor strategies are given"
            )
        names = [self.player_name, *self.competitor_names[:n]]
        if len(set(names)) != len(names):
            raise ValueError(f"factory names must be distinct, got {names}")
        if PLAYER_ONLY in self.competitor_cap:
            raise ValueError(
                f"competitor_cap may not include {PLAYER_ONLY!r}: it is the player's edge"
            )
        for name in self.competitor_strategies[:n]:
            if name not in self.competitor_cap:
                raise ValueError(
                    f"competitor strategy {name!r} is above the competitor cap "
                    f"{self.competitor_cap}"
                )
        return self

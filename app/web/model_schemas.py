"""What /api/models and the snapshot's `models` say about the game's models: test errors on the
held-out engines, each model's calibration, and what each policy earns with them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class FactoryModelScore(BaseModel):
    """One factory's own local model, trained on its engines alone, on the held-out engines."""

    node: int
    rmse: float
    late_life_rmse: float


class ModelCalibration(BaseModel):
    """One model's calibration, as /api/models and metrics.json give it."""

    decision: Literal["calibrated", "raw"] = Field(description="The game's decision rule.")
    level: float
    window: float
    margin: float = Field(description="Cycles the calibrated decision subtracts.")
    method: Literal["in-sample", "cross-fit"]
    rows: int = Field(description="Residuals the margin is the quantile of.")


class ModelCalibrations(BaseModel):
    centralized: ModelCalibration
    federated: ModelCalibration
    local: list[ModelCalibration] = Field(description="Each factory's own model, by node.")


class LocalOutcomes(BaseModel):
    percent_of_oracle: list[float] = Field(description="Each factory's local model, by node.")
    failures: list[int] = Field(description="Engines each factory's local model let fail.")


class PolicyOutcomes(BaseModel):
    ticks: int
    percent_of_oracle: dict[str, float] = Field(
        description="corrective, preventative, centralized, federated, local_median"
    )
    failures: dict[str, float] = Field(
        description="Engines each policy let fail: corrective, preventative, centralized, "
        "federated, local_median (the median factory's count)"
    )
    local_by_node: LocalOutcomes


class ModelMetrics(BaseModel):
    """Test RMSE (cycles) of each model on the held-out engines, and the federated learning curve.

    Late-life RMSE counts only cycles whose true RUL is <= 50, where maintenance is decided.
    `local_*` are medians over the factories; `factories` has each factory's own figures.
    """

    model: str = Field(description="The model family: window (30-cycle window) or ff09 (MLP).")
    naive_rmse: float
    centralized_rmse: float
    local_rmse: float
    federated_rmse: float
    centralized_late_life_rmse: float
    local_late_life_rmse: float
    federated_late_life_rmse: float
    federated_curve: list[float] = Field(description="Test RMSE after each federated round.")
    factories: list[FactoryModelScore] = Field(description="Each factory's local model, by node.")
    calibration: ModelCalibrations = Field(
        description="Each model's margin: the `level` quantile of prediction - true RUL over its "
        "training cycles whose true RUL <= `window` (training engines only)."
    )
    policies: PolicyOutcomes = Field(
        description="What each policy earns and lets fail with these models under this game's "
        "rules (fair draws of the game's seed)."
    )

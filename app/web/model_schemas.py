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


class LabModelView(BaseModel):
    """A Federation Lab model deployed behind a game's federated strategy (docs/lab.md, section
    4): the model that decides for that strategy, with its own figures, so the dashboard never
    shows the default model's errors while another model decides."""

    label: str = Field(
        description="Its name with the run's settings, e.g. \"lab model: 20 rounds, 80 nodes, "
        'median vs 20% sign_flip, DP eps 4.3, secure aggregation, int8".'
    )
    rounds: int = Field(description="Rounds the run had played when it was deployed.")
    rmse: float | None = Field(description="Test RMSE of the global model (lab's test engines).")
    late_life_rmse: float | None = Field(description="The same on cycles with true RUL <= 50.")
    decision: Literal["calibrated", "raw"]
    margin: float = Field(description="Its calibration margin (what the calibrated rule uses).")
    percent_of_oracle: float = Field(description="In the game, fast fleet simulation.")
    default_percent_of_oracle: float = Field(description="The default federated model's, alike.")
    local_percent_of_oracle: float = Field(description="The factories' local models' (median).")
    worse_than_default: bool = Field(description="It earns less than the default model.")
    kept: str = Field(description="When the deployment ends (the same sentence as docs/lab.md).")


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
    lab_model: LabModelView | None = Field(
        default=None,
        description="At GET /api/models?session=ID: the lab model that game's federated strategy "
        "runs, null for the default model (frames carry it in the state's `lab_model`).",
    )

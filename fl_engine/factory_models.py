"""The game's models: every factory's local model, the federated model over all factories, and a
centralized reference, for either model family ("ff09": FF09's single-step MLP; "window": a
30-cycle window, RUL capped at 125).

This module is the public face; the parts live in `factory_types` (configuration, the trained
set, predictions), `factory_training` and `factory_files` (safetensors + JSON on disk).

    models = train_factory_models(runs, FactoryModelsConfig(model="window"), progress)
    save_factory_models(models, Path("artifacts/factory-window"))
    models = load_factory_models(Path("artifacts/factory-window"))
    [engine] = models.predict(runs, ["FD001-train-12"])  # engine.local[i]: factory i's model
"""

from fl_engine.factory_files import load_factory_models, save_factory_models
from fl_engine.factory_training import Progress, train_factory_models
from fl_engine.factory_types import (
    FAMILY_DEFAULTS,
    EnginePredictions,
    FactoryModels,
    FactoryModelsConfig,
    ModelFamily,
    data_fingerprint,
)

__all__ = [
    "FAMILY_DEFAULTS",
    "EnginePredictions",
    "FactoryModels",
    "FactoryModelsConfig",
    "ModelFamily",
    "Progress",
    "data_fingerprint",
    "load_factory_models",
    "save_factory_models",
    "train_factory_models",
]

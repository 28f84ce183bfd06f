"""Factory models on disk: `factory_models.json` (settings, engines, scaling, metrics) and
`factory_models.safetensors` (every model's weights, by parameter name).

safetensors, not pickle: loading can never run code. The weights are written first and the JSON
last, atomically, so a JSON file marks a complete set. Every way a directory can be wrong (a file
missing, damaged, or from another model) is an `ArtifactError` whose message names the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from fl_engine.artifacts import ArtifactError, OutdatedArtifactError
from fl_engine.data import SIGNAL_COLUMNS
from fl_engine.factory_calibration import FactoryCalibration
from fl_engine.factory_training import FORMAT, OLDER_FORMATS
from fl_engine.factory_types import FactoryModels, FactoryModelsConfig, FeatureScaling
from fl_engine.model_families import Family, TargetScale, family_of

JSON_FILE = "factory_models.json"
WEIGHTS_FILE = "factory_models.safetensors"
MODELS = ("centralized", "federated", "local")


def save_factory_models(models: FactoryModels, out_dir: Path) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {
        f"{name}/{key}": value
        for name in MODELS
        for key, value in models.family.to_state(models.params[name]).items()
    }
    save_file(
        tensors,
        str(out_dir / WEIGHTS_FILE),
        metadata={"format": FORMAT, "family": models.family.name},
    )
    doc = {
        "format": FORMAT,
        "config": models.config.model_dump(),
        "node_engines": models.node_engines,
        "test_engines": models.test_engines,
        "features": {
            "names": models.features.names,
            "mean": models.features.mean.tolist(),
            "std": models.features.std.tolist(),
        },
        "target": {
            "mean": models.target.mean,
            "std": models.target.std,
            "cap": models.target.cap,
        },
        "metrics": models.metrics,
    }
    tmp = out_dir / (JSON_FILE + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    tmp.replace(out_dir / JSON_FILE)


class _Strict(BaseModel):
    """JSON as written by `save_factory_models`: no coercion (a "12.5" string is not a number)."""

    model_config = ConfigDict(strict=True, extra="allow")


class _Features(_Strict):
    names: list[str]
    mean: list[float]
    std: list[float]


class _Target(_Strict):
    mean: float
    std: float
    cap: float | None


class _Scores(_Strict):
    centralized: float
    federated: float
    local: list[float]  # one per factory


class _Calibration(_Strict):
    level: float = Field(gt=0, lt=1)
    window: float = Field(ge=0)
    margin: float
    method: str
    rows: int = Field(ge=0)


class _Calibrations(_Strict):
    centralized: _Calibration
    federated: _Calibration
    local: list[_Calibration]  # one per factory


class _Metrics(_Strict):
    """The part of the metrics that start-up reads (`app.bridge.panel_metrics`, `family_of`)."""

    family: str
    model: dict[str, Any]
    rmse: _Scores
    late_life_rmse: _Scores
    capped_rmse: _Scores
    federated_curve: list[float] = []
    calibration: _Calibrations
    data_fingerprint: dict[str, Any] | None = None  # absent in files from before it existed


class _Doc(_Strict):
    format: str
    config: dict[str, Any]
    node_engines: list[list[str]]
    test_engines: list[str] = Field(min_length=1)
    features: _Features
    target: _Target
    metrics: _Metrics


def _first_error(exc: ValidationError) -> str:
    """One line for the user: where in the file, and what is wrong there."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "the document"
    return f"{where}: {first['msg']}"


def _check(doc: _Doc, cfg: FactoryModelsConfig) -> None:
    """What the schema cannot say: lengths that must agree, names that must exist."""
    names, mean, std = doc.features.names, doc.features.mean, doc.features.std
    unknown = [n for n in names if n not in SIGNAL_COLUMNS]
    sizes = {len(names), len(mean), len(std)}
    if unknown or len(sizes) != 1 or not names:
        raise ValueError(f"bad feature list (unknown {unknown}, lengths {sorted(sizes)})")
    if min(std) <= 0:
        raise ValueError("features.std must be positive")
    if len(doc.node_engines) != cfg.n_nodes:
        raise ValueError(f"{len(doc.node_engines)} factories' engines for {cfg.n_nodes}")
    if len(doc.metrics.calibration.local) != cfg.n_nodes:
        raise ValueError(
            f"metrics.calibration.local has {len(doc.metrics.calibration.local)} margins for "
            f"{cfg.n_nodes}"
        )
    for measure in ("rmse", "late_life_rmse", "capped_rmse"):
        local = getattr(doc.metrics, measure).local
        if len(local) != cfg.n_nodes:
            raise ValueError(f"metrics.{measure}.local has {len(local)} values for {cfg.n_nodes}")
    if doc.metrics.family != cfg.model:
        raise ValueError(f"metrics of the {doc.metrics.family} family, config of {cfg.model}")


def _read_json(
    path: Path,
) -> tuple[dict[str, Any], FactoryModelsConfig, FeatureScaling, Family, TargetScale]:
    """The JSON half of a set, checked all the way down: whatever is wrong in it becomes one
    `ArtifactError` line naming the file, never a traceback at start-up."""
    if not path.is_file():
        raise ArtifactError(f"no factory models in {path.parent}: {path} is missing")
    damaged = f"{path} is damaged or from another version"
    try:
        raw = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise ArtifactError(f"{damaged} ({exc!r})") from exc
    if not isinstance(raw, dict):
        raise ArtifactError(f"{damaged} (a JSON {type(raw).__name__}, not an object)")
    if raw.get("format") in OLDER_FORMATS:
        raise OutdatedArtifactError(
            f"{path} was written by an older version (format {raw.get('format')!r}); "
            "these models have to be trained again"
        )
    if raw.get("format") != FORMAT:
        raise ArtifactError(f"{damaged} (format {raw.get('format')!r}, expected {FORMAT!r})")
    try:
        doc = _Doc.model_validate(raw)
    except ValidationError as exc:
        raise ArtifactError(f"{damaged} ({_first_error(exc)})") from exc
    try:
        cfg = FactoryModelsConfig(**doc.config)
    except ValidationError as exc:
        raise ArtifactError(f"{damaged} (config.{_first_error(exc)})") from exc
    try:
        _check(doc, cfg)
        family = family_of(cfg.model, doc.metrics.model)
    except (ValueError, TypeError) as exc:  # TypeError: an architecture field family_of lacks
        raise ArtifactError(f"{damaged} ({exc})") from exc
    features = FeatureScaling(
        doc.features.names,
        np.asarray(doc.features.mean, dtype=np.float64),
        np.asarray(doc.features.std, dtype=np.float64),
    )
    target = TargetScale(doc.target.mean, doc.target.std, doc.target.cap)
    return raw, cfg, features, family, target


def _model(
    family: Family, tensors: dict[str, torch.Tensor], name: str, lead: tuple[int, ...]
) -> torch.Tensor:
    """One model's flat parameters [*lead, n_params] from the file's "name/param" tensors."""
    state = {k.split("/", 1)[1]: v for k, v in tensors.items() if k.startswith(name + "/")}
    try:
        return family.from_state(state, lead)
    except ValueError as exc:
        raise ValueError(f"{name} model: {exc}") from exc


def load_factory_models(out_dir: Path) -> FactoryModels:
    out_dir = Path(out_dir)
    doc, cfg, features, family, target = _read_json(out_dir / JSON_FILE)
    file = out_dir / WEIGHTS_FILE
    if not file.is_file():
        raise ArtifactError(f"factory model weights {file} are missing")
    leads = {"centralized": (), "federated": (), "local": (cfg.n_nodes,)}
    try:
        with safe_open(str(file), framework="pt") as f:
            meta = f.metadata() or {}
        if meta.get("family") != family.name:
            raise ValueError(f"it holds {meta.get('family')} weights, not {family.name}")
        tensors = load_file(str(file))
        names = {key.split("/", 1)[0] for key in tensors}
        if not names <= set(MODELS):
            raise ValueError(f"unknown models {sorted(names - set(MODELS))}")
        params = {name: _model(family, tensors, name, leads[name]) for name in MODELS}
    except (SafetensorError, ValueError, OSError, RuntimeError) as exc:
        raise ArtifactError(f"{file} is damaged or does not match {JSON_FILE} ({exc})") from exc
    if not all(torch.isfinite(p).all() for p in params.values()):
        raise ArtifactError(f"{file} holds non-finite weights")
    return FactoryModels(
        config=cfg,
        node_engines=[[str(e) for e in node] for node in doc["node_engines"]],
        test_engines=[str(e) for e in doc["test_engines"]],
        metrics=doc["metrics"],
        family=family,
        features=features,
        target=target,
        params=params,
        calibration=FactoryCalibration.from_json(doc["metrics"]["calibration"]),
    )

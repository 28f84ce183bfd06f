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
from pydantic import ValidationError
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from fl_engine.artifacts import ArtifactError
from fl_engine.data import SIGNAL_COLUMNS
from fl_engine.factory_training import FORMAT
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


def _read_json(
    path: Path,
) -> tuple[dict[str, Any], FactoryModelsConfig, FeatureScaling, Family, TargetScale]:
    if not path.is_file():
        raise ArtifactError(f"no factory models in {path.parent}: {path} is missing")
    try:
        doc = json.loads(path.read_text())
        if doc.get("format") != FORMAT:
            raise ValueError(f"format {doc.get('format')!r}, expected {FORMAT!r}")
        cfg = FactoryModelsConfig(**doc["config"])
        features = FeatureScaling(
            [str(n) for n in doc["features"]["names"]],
            np.asarray(doc["features"]["mean"], dtype=np.float64),
            np.asarray(doc["features"]["std"], dtype=np.float64),
        )
        unknown = [n for n in features.names if n not in SIGNAL_COLUMNS]
        sizes = {len(features.names), len(features.mean), len(features.std)}
        if unknown or len(sizes) != 1:
            raise ValueError(f"bad feature list (unknown {unknown}, lengths {sorted(sizes)})")
        if len(doc["node_engines"]) != cfg.n_nodes or not doc["test_engines"]:
            raise ValueError(f"{len(doc['node_engines'])} factories' engines for {cfg.n_nodes}")
        cap = doc["target"]["cap"]
        target = TargetScale(
            float(doc["target"]["mean"]),
            float(doc["target"]["std"]),
            None if cap is None else float(cap),
        )
        family = family_of(cfg.model, dict(doc["metrics"])["model"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{path} is damaged or from another version ({exc!r})") from exc
    except (ValidationError, ValueError) as exc:
        raise ArtifactError(f"{path} is damaged or from another version ({exc})") from exc
    return doc, cfg, features, family, target


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
    )

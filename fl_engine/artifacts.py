"""Trained models and their metrics on disk: `metrics.json` plus one safetensors file per model.

safetensors, not pickle: loading a model file can never run code.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from fl_engine.arrays import IndexArray
from fl_engine.calibration import CalibrationSpec, calibration_of, residual_histogram
from fl_engine.experiment import MODELS, ExperimentResult, predict_rul
from fl_engine.model import MLPConfig

MODEL_FILES = ("centralized", "federated", "local")
METRICS_FILE = "metrics.json"


class ArtifactError(ValueError):
    """An artifacts directory is missing a file or holds a damaged one; the message names it."""


class OutdatedArtifactError(ArtifactError):
    """Files written by an older version of the project: fine to train again over them."""


def metrics_of(result: ExperimentResult) -> dict[str, Any]:
    data, cfg = result.data, result.config
    ids = data.runs.engine_ids
    per_node: dict[str, dict[str, list[float | None]]] = {}
    for report in result.rounds:
        for node in report.nodes:
            curves = per_node.setdefault(str(node.node), {"before": [], "after": []})
            curves["before"].append(node.loss_before)
            curves["after"].append(node.loss_after)
    local_all = np.asarray(result.local_all_nodes)
    return {
        **{f"{m}_rmse": result.scores[m].rmse for m in MODELS},
        "late_life_rmse": {m: result.scores[m].late_life_rmse for m in MODELS},
        "phm08_score": {m: result.scores[m].phm08 for m in MODELS},
        "naive_life": result.naive_life,
        "federated_curve": result.federated_curve,
        "node_curves": {
            "loss": "mean squared error on the node's own rows, standardized target",
            "behaviours": result.behaviours,
            "non_participant": cfg.non_participant,
            "nodes": per_node,
        },
        "node_status": [[n.status for n in r.nodes] for r in result.rounds],
        "local_all_nodes_rmse": {
            "mean": float(local_all.mean()),
            "min": float(local_all.min()),
            "max": float(local_all.max()),
            "std": float(local_all.std()),
            "values": local_all.tolist(),
        },
        "test_engines": [ids[e] for e in data.test_engines],
        "train_engines": [ids[e] for e in data.train_engines],
        # engines whose rows each model's training was actually fed (from the trainers' node data)
        "trained_on": {
            name: [ids[e] for e in np.unique(data.runs.row_engine[rows])]
            for name, rows in result.trained_rows.items()
        },
        "partition": [[ids[e] for e in part] for part in result.partition],
        "feature_names": data.feature_names,
        "feature_mean": data.feature_mean.tolist(),
        "feature_std": data.feature_std.tolist(),
        "target_mean": data.target_mean,
        "target_std": data.target_std,
        "model": asdict(result.mlp),
        "settings": cfg.model_dump(),
        "calibration": experiment_calibration(result),
        "seconds": result.seconds,
    }


def experiment_calibration(result: ExperimentResult) -> dict[str, Any]:
    """Each model's margin (`fl_engine.calibration`, in-sample) on the rows it trained on: the
    federated one from each averaged node's histogram, summed; the local one on its node alone."""
    data, spec = result.data, CalibrationSpec()
    fed = result.trained_rows["federated"]

    def counts(name: str, rows: IndexArray) -> Any:
        pred = predict_rul(data, result.mlp, result.params[name], rows)
        return residual_histogram(pred, data.runs.rul[rows], spec)

    nodes = [data.rows_of(p) for p in result.partition]
    federated = sum(counts("federated", np.intersect1d(r, fed)) for r in nodes)
    return {
        "centralized": calibration_of(
            counts("centralized", result.trained_rows["centralized"]), spec, "in-sample"
        ).to_json("calibrated"),
        "federated": calibration_of(np.asarray(federated), spec, "in-sample").to_json("calibrated"),
        "local": calibration_of(
            counts("local", result.trained_rows["local"]), spec, "in-sample"
        ).to_json("calibrated"),
    }


def save_artifacts(result: ExperimentResult, out_dir: Path) -> dict[str, Any]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = metrics_of(result)
    for name in MODEL_FILES:
        state = result.mlp.layout.to_state_dict(result.params[name])
        save_file(
            state,
            str(out_dir / f"{name}.safetensors"),
            metadata={"model": name, "seed": str(result.config.seed)},
        )
    tmp = out_dir / (METRICS_FILE + ".tmp")
    tmp.write_text(json.dumps(metrics, indent=1))
    tmp.replace(
        out_dir / METRICS_FILE
    )  # metrics.json last and atomic: its presence marks a complete set
    return metrics


def load_artifacts(art_dir: Path) -> tuple[dict[str, Any], MLPConfig, dict[str, torch.Tensor]]:
    """(metrics, model config, flat params of each model) from a directory `save_artifacts` wrote."""
    art_dir = Path(art_dir)
    path = art_dir / METRICS_FILE
    if not path.is_file():
        raise ArtifactError(f"no trained models in {art_dir}: {path} is missing")
    try:
        metrics = json.loads(path.read_text())
        mlp = MLPConfig(**metrics["model"])
        len(metrics["feature_names"]), float(metrics["target_std"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{path} is damaged or from another version ({exc})") from exc
    params = {}
    for name in MODEL_FILES:
        file = art_dir / f"{name}.safetensors"
        if not file.is_file():
            raise ArtifactError(f"trained model file {file} is missing")
        try:
            params[name] = mlp.layout.from_state_dict(load_file(str(file)))
        except (SafetensorError, ValueError, OSError) as exc:
            raise ArtifactError(
                f"{file} is damaged or does not match metrics.json ({exc})"
            ) from exc
    return metrics, mlp, params

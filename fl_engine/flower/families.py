"""Any model family (`fl_engine.model_families`) on the Flower runtimes: what a node and the
server rebuild from the run settings to train the game's factory models exactly as
`fl_engine.factory_training` does in process. No flwr import here (`family_apps` speaks Flower).

The run config's `family` is `Family.describe()` as `family_config` writes it, so a node builds
the same architecture the parent trains in process; everything else (engine split, standardization, the
IID deal, the target scale) every node recomputes from the data files and the seed, as the FF09
runtime does (`fl_engine.flower.task`).

Minibatch order. In process the federated and the local stage each draw, every round and local
epoch, `epoch_plan(sizes, batch, generator)` for all factories from one generator seeded
`plan_seed` (`cfg.seed + 2` for both stages): a node replays that stream and takes its own row.

Numerics. The in-process trainer works on every factory at once; a node works on its own rows.
A node trains beside a numerical twin (`twin_plans`, the reason is `task.with_twin`'s): the pair
goes through the batched kernels while in process another factory still has a minibatch, and the
node goes alone (the trainer's one-node path) after that, as in process. Its local model (the
game's "every factory alone") trains the same way from the model it keeps between rounds.
ASSUMPTION: every factory trains every round (full participation, no failed node); sampling or a
lost node would change the in-process stream and is refused by the caller.

Calibration. After the last round each node counts the residuals of the final global model and
of its own local model on its own engines into the shared fixed bins
(`fl_engine.calibration.residual_histogram`); the server sums the federated counts. No residual
and no row leaves a node.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from fl_engine.arrays import IndexArray
from fl_engine.calibration import CalibrationSpec, CountArray, residual_histogram
from fl_engine.data import load_runs, resolve_data_dir
from fl_engine.factory_calibration import model_predictions
from fl_engine.features import ProtocolData, prepare_protocol
from fl_engine.flower.settings import RunSettings
from fl_engine.local_training import AdamConfig, epoch_plan
from fl_engine.model_families import Family, TargetScale, family_of
from fl_engine.partition import PARTITIONS
from fl_engine.rounds import Stage

COUNTS_FILE = "counts.safetensors"  # the nodes' residual counts, written by the ServerApp


@dataclass(frozen=True)
class FamilyFederation:
    """The protocol data, the family, its target scale and every node's engines and rows."""

    data: ProtocolData
    family: Family
    target: TargetScale
    partition: list[IndexArray]  # engines of each node
    node_rows: list[IndexArray]  # protocol rows of each node
    y: Tensor  # [protocol rows] the standardized (capped, for window) target

    @property
    def sizes(self) -> Tensor:
        return torch.tensor([len(r) for r in self.node_rows], dtype=torch.long)  # [nodes]


def family_config(describe: dict[str, Any]) -> str:
    """`Family.describe()` as one run-config string, `key=value;...` with JSON values. Why not
    JSON: `flwr run --run-config` takes a double-quoted value with no double quote inside."""
    return ";".join(f"{k}={json.dumps(v)}".replace('"', "") for k, v in describe.items())


def family_describe(config: str) -> dict[str, Any]:
    """The inverse of `family_config` (a value that is not JSON is a string, e.g. the name)."""
    out: dict[str, Any] = {}
    for item in config.split(";"):
        key, _, value = item.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def family_of_settings(settings: RunSettings) -> Family:
    """The family the run config describes (`family_config`)."""
    describe = family_describe(settings.family)
    return family_of(str(describe["family"]), describe)


@functools.cache
def load_family_federation(settings: RunSettings) -> FamilyFederation:
    """The preparation and deal of `factory_training.train_stages`, from the data files."""
    runs = load_runs(resolve_data_dir(Path(settings.data_dir) if settings.data_dir else None))
    data = prepare_protocol(runs, settings.seed, settings.n_test_engines, settings.cycle_input)
    family = family_of_settings(settings)
    target = family.target_scale(data)
    partition = PARTITIONS[settings.partition](
        data.train_engines,
        data.engine_groups(),
        settings.nodes,
        np.random.default_rng(settings.seed),
    )
    rows = [data.rows_of(p) for p in partition]
    return FamilyFederation(data, family, target, partition, rows, target.encode(data.runs.rul))


class StreamReplay:
    """The in-process minibatch stream (`rounds.train_rounds`), replayed round by round."""

    def __init__(self, sizes: Tensor, seed: int, batch_size: int, local_epochs: int) -> None:
        self.sizes, self.seed = sizes, seed  # sizes [nodes]
        self.batch_size, self.local_epochs = batch_size, local_epochs
        self._restart()

    def _restart(self) -> None:
        self.generator = torch.Generator(device="cpu").manual_seed(self.seed)
        self.next_round = 0
        self.plans: list[Tensor] = []

    def node_plans(self, round_index: int, partition_id: int) -> list[Tensor]:
        """One node's plans [1, steps, batch] of round `round_index` (from 0), one per epoch."""
        if round_index < self.next_round - 1:
            self._restart()
        while self.next_round <= round_index:
            self.plans = [
                epoch_plan(self.sizes, self.batch_size, self.generator)
                for _ in range(self.local_epochs)
            ]
            self.next_round += 1
        return [p[partition_id : partition_id + 1] for p in self.plans]


@functools.cache
def stream_replay(settings: RunSettings) -> StreamReplay:
    seed = settings.seed if settings.plan_seed < 0 else settings.plan_seed
    sizes = load_family_federation(settings).sizes
    return StreamReplay(sizes, seed, settings.batch_size, settings.local_epochs)


@functools.cache
def node_stage(settings: RunSettings, partition_id: int) -> Stage:
    """This node's rows twice (the node and its twin), bound to the family's own trainer."""
    fed = load_family_federation(settings)
    rows = fed.node_rows[partition_id]
    adam = AdamConfig(lr=settings.lr)
    _, pair = fed.family.stages(fed.data, fed.y, [rows, rows], adam, "vectorized")
    return pair


@functools.cache
def node_samples(settings: RunSettings, partition_id: int) -> tuple[Tensor, Tensor]:
    """This node's model inputs [rows, ...] and standardized targets [rows] (for its losses)."""
    fed = load_family_federation(settings)
    engine_rows = [fed.data.engine_rows[e] for e in fed.partition[partition_id]]
    flat = np.concatenate(engine_rows)
    positions = np.split(np.arange(len(flat)), np.cumsum([len(r) for r in engine_rows])[:-1])
    inputs = fed.family.inputs(fed.data.x[torch.as_tensor(flat)], positions)
    return inputs, fed.y[torch.as_tensor(flat)]


def node_losses(settings: RunSettings, partition_id: int, params: Tensor) -> list[float]:
    """Own-data MSE (standardized) of params [k, n_params]."""
    inputs, y = node_samples(settings, partition_id)
    with torch.no_grad():
        pred = load_family_federation(settings).family.predict(params, inputs)  # [k, rows]
    return [float(v) for v in (pred - y).square().mean(-1)]


def twin_plans(plans: list[Tensor], others_steps: int) -> list[Tensor]:
    """[1, steps, batch] plans -> [2, steps, batch]: the node's own, and its twin's cut after
    `others_steps` steps (the most steps of any other factory: in process the node trains among
    others until then, alone after)."""
    pairs = []
    for plan in plans:
        pair = plan.expand(2, -1, -1).clone()
        pair[1, others_steps:] = -1
        pairs.append(pair)
    return pairs


def train_family_node(
    settings: RunSettings, partition_id: int, round_index: int, start: Tensor
) -> Tensor:
    """`local_epochs` epochs from start [n_params] on this node's rows with a fresh Adam (as
    every in-process round does); the trained [n_params]."""
    stage = node_stage(settings, partition_id)
    plans = stream_replay(settings).node_plans(round_index, partition_id)
    sizes = load_family_federation(settings).sizes.tolist()
    others = [-(-n // settings.batch_size) for i, n in enumerate(sizes) if i != partition_id]
    params = start.to(torch.float32).reshape(1, -1).repeat(2, 1)  # [2, n_params]
    stage.train(params, twin_plans(plans, max(others, default=0)))
    return params[0].clone()


def node_counts(settings: RunSettings, partition_id: int, models: Tensor) -> CountArray:
    """Counts [k, N_BINS] of the residuals of models [k, n_params] on this node's engines in
    the calibration window, as `factory_calibration.residual_counts` counts each factory's."""
    fed = load_family_federation(settings)
    spec = CalibrationSpec(settings.calibration_level, settings.calibration_window)
    engines = fed.partition[partition_id]
    pred, true, _ = model_predictions(fed.data, fed.family, fed.target, models, engines, spec)
    return residual_histogram(pred, true, CalibrationSpec(spec.level, np.inf))


def write_counts(out_dir: Path, federated: CountArray, local: CountArray | None) -> None:
    """federated, local [nodes, N_BINS] -> `COUNTS_FILE` (before `outputs.finish`)."""
    tensors = {"federated": torch.from_numpy(np.ascontiguousarray(federated))}
    if local is not None:
        tensors["local"] = torch.from_numpy(np.ascontiguousarray(local))
    save_file(tensors, str(out_dir / COUNTS_FILE))


def read_counts(out_dir: Path) -> tuple[CountArray, CountArray | None]:
    """(federated [nodes, N_BINS], local [nodes, N_BINS] or None) as the ServerApp wrote them."""
    tensors = load_file(str(out_dir / COUNTS_FILE))
    local = tensors.get("local")
    return tensors["federated"].numpy(), None if local is None else local.numpy()

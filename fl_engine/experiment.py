"""The FF09 experiment: naive, centralized, local and federated models on the protocol data.

`run_experiment` is the one place that wires data -> partition -> trainers -> metrics; the CLI,
the benchmarks and the game all call it rather than repeating the wiring.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, Field, model_validator
from torch import Tensor

from fl_engine.arrays import FloatArray, IndexArray
from fl_engine.data import Runs
from fl_engine.features import ProtocolData, prepare_protocol
from fl_engine.federated import FederatedConfig, Federation, RoundReport
from fl_engine.local_training import TRAINERS, AdamConfig, NodeData, epoch_plan
from fl_engine.metrics import late_life_rmse, naive_prediction, phm08_score, rmse
from fl_engine.model import MLPConfig, forward, init_params, predict, with_bias_column
from fl_engine.nodes import NodeBehaviour, fails_at, non_participant, participant
from fl_engine.partition import PARTITIONS

MODELS = ("naive", "centralized", "local", "federated")
Progress = Callable[[str, int, int], None]  # (stage, done, total)


class ExperimentConfig(BaseModel):
    """Everything that decides an experiment's numbers; saved in metrics.json as `settings`."""

    seed: int = 0
    n_test_engines: int = Field(default=80, ge=1)
    n_nodes: int = Field(default=80, ge=1)
    partition: Literal["iid", "unbalanced", "fault_mode"] = "iid"
    rounds: int = Field(default=10, ge=1)
    local_epochs: int = Field(default=1, ge=1)
    batch_size: int = Field(default=32, ge=1)
    lr: float = Field(default=1e-3, gt=0)
    sample_fraction: float = Field(default=1.0, gt=0, le=1)
    non_participant: int = Field(
        default=0, ge=0, description="node that trains alone: the game's local model"
    )
    n_failed: int = Field(default=0, ge=0)
    failure_round: int = Field(
        default=5, ge=0, description="first round in which failed nodes are down"
    )
    trainer: Literal["vectorized", "loop"] = "vectorized"
    hidden: int = Field(default=48, ge=1)
    cycle_input: bool = Field(
        default=False, description="add the cycle count as a 17th input (not FF09)"
    )

    @model_validator(mode="after")
    def _nodes_fit(self) -> ExperimentConfig:
        if self.non_participant >= self.n_nodes:
            raise ValueError(f"non_participant must be a node index below n_nodes={self.n_nodes}")
        if self.n_failed > self.n_nodes - 2:
            raise ValueError(
                "n_failed must leave the non-participant and at least one federating node"
            )
        return self


@dataclass
class ModelScores:
    rmse: float
    late_life_rmse: float
    phm08: float


@dataclass
class ExperimentResult:
    config: ExperimentConfig
    data: ProtocolData
    mlp: MLPConfig
    params: dict[str, Tensor]  # "centralized" / "federated" / "local" -> flat params
    scores: dict[str, ModelScores]  # one per MODELS entry
    naive_life: float
    federated_curve: list[float]  # global test RMSE after each round
    rounds: list[RoundReport]
    partition: list[IndexArray]
    behaviours: list[str]
    # "centralized" / "federated" / "local" -> the rows of `data` (sorted) that the model's training
    # was fed, read from the node data handed to the trainers: for the federated model the rows of
    # every node whose update was averaged in at least once
    trained_rows: dict[str, IndexArray]
    local_all_nodes: list[float]  # test RMSE of every node's model trained alone
    seconds: dict[str, float]


def predict_rul(data: ProtocolData, mlp: MLPConfig, params: Tensor, rows: IndexArray) -> FloatArray:
    """Predicted RUL in cycles for `rows` of the data, floored at 0 (a RUL cannot be negative)."""
    y = predict(mlp, params, data.x[torch.as_tensor(rows)])
    return np.maximum(data.to_cycles(y), 0.0)


def score(data: ProtocolData, pred: FloatArray, rows: IndexArray) -> ModelScores:
    true = data.runs.rul[rows]
    engine = data.runs.row_engine[rows]
    last = np.r_[engine[1:] != engine[:-1], True]  # rows are grouped by engine, in cycle order
    return ModelScores(
        rmse(pred, true), late_life_rmse(pred, true), phm08_score(pred[last], true[last])
    )


def _behaviours(cfg: ExperimentConfig) -> tuple[list[NodeBehaviour], list[str]]:
    rng = np.random.default_rng(cfg.seed + 1)
    others = [i for i in range(cfg.n_nodes) if i != cfg.non_participant]
    failed = (
        set(rng.choice(others, size=cfg.n_failed, replace=False).tolist())
        if cfg.n_failed
        else set()
    )
    behaviours: list[NodeBehaviour] = []
    names: list[str] = []
    for i in range(cfg.n_nodes):
        if i == cfg.non_participant:
            behaviours.append(non_participant)
            names.append("non_participant")
        elif i in failed:
            behaviours.append(fails_at(cfg.failure_round))
            names.append(f"fails_at_round_{cfg.failure_round}")
        else:
            behaviours.append(participant)
            names.append("participant")
    return behaviours, names


def _test_rmse_many(
    data: ProtocolData, mlp: MLPConfig, params: Tensor, rows: IndexArray, chunk: int = 16
) -> list[float]:
    """Test RMSE of many models at once: params [k, n_params]."""
    x = with_bias_column(data.x[torch.as_tensor(rows)])
    true = data.runs.rul[rows]
    out: list[float] = []
    with torch.no_grad():
        for start in range(0, len(params), chunk):
            p = params[start : start + chunk]
            pred = np.maximum(data.to_cycles(forward(mlp, p, x.expand(len(p), -1, -1))), 0.0)
            out += [rmse(row, true) for row in pred]
    return out


def train_centralized(
    nodes: NodeData, init: Tensor, cfg: ExperimentConfig, mlp: MLPConfig, generator: torch.Generator
) -> Tensor:
    """One model on all training rows, `rounds * local_epochs` epochs: the same example budget as
    the federation, with one Adam optimizer throughout."""
    params = init.unsqueeze(0).clone()
    epochs = cfg.rounds * cfg.local_epochs
    plans = [epoch_plan(nodes.sizes, cfg.batch_size, generator) for _ in range(epochs)]
    TRAINERS[cfg.trainer](
        params, nodes, torch.zeros(1, dtype=torch.long), plans, mlp, AdamConfig(lr=cfg.lr)
    )
    return params[0]


@dataclass(frozen=True)
class FederatedInputs:
    """What the federated stage is given: the protocol data, every node's rows, the initial
    weights, the node behaviours (the non-participant among them) and the progress callback."""

    cfg: ExperimentConfig
    data: ProtocolData
    mlp: MLPConfig
    nodes: NodeData
    init: Tensor  # [n_params]
    fed_cfg: FederatedConfig
    behaviours: list[NodeBehaviour]
    test_rows: IndexArray
    tick: Progress


@dataclass
class FederatedStage:
    """What a federated stage returns: the global model, the non-participant's own model, one
    report per round and the global model's test RMSE after each round."""

    global_params: Tensor  # [n_params]
    local_params: Tensor  # [n_params]
    reports: list[RoundReport]
    curve: list[float]


# The federated stage's runtime: the in-process Federation (default) or another that returns the
# same (fl_engine.flower.stage: Flower's simulation or deployment runtime).
FederatedRunner = Callable[[FederatedInputs], FederatedStage]


def federate_in_process(inp: FederatedInputs) -> FederatedStage:
    """`rounds` rounds of the in-process Federation."""
    cfg, data = inp.cfg, inp.data
    federation = Federation(inp.nodes, inp.behaviours, inp.init, inp.fed_cfg, inp.mlp, cfg.seed)
    reports: list[RoundReport] = []
    curve: list[float] = []
    for r in range(cfg.rounds):
        reports.append(federation.run_round())
        pred = predict_rul(data, inp.mlp, federation.global_params, inp.test_rows)
        curve.append(rmse(pred, data.runs.rul[inp.test_rows]))
        inp.tick("federated", r + 1, cfg.rounds)
    return FederatedStage(
        federation.global_params.clone(),
        federation.node_params[cfg.non_participant].clone(),
        reports,
        curve,
    )


def federated_inputs(
    data: ProtocolData, cfg: ExperimentConfig, tick: Progress | None = None
) -> tuple[FederatedInputs, list[IndexArray], list[str]]:
    """What `cfg`'s federated stage is given, with the partition (engines per node) and the
    behaviours' names the result reports. Built in this one place, so that another runtime or a
    test gets exactly the stage `run_experiment` runs."""
    mlp = MLPConfig(n_features=data.n_features, hidden=cfg.hidden)
    partition = PARTITIONS[cfg.partition](
        data.train_engines, data.engine_groups(), cfg.n_nodes, np.random.default_rng(cfg.seed)
    )
    nodes = NodeData.from_rows(data.x, data.y, [data.rows_of(p) for p in partition])
    fed_cfg = FederatedConfig(
        local_epochs=cfg.local_epochs,
        batch_size=cfg.batch_size,
        sample_fraction=cfg.sample_fraction,
        trainer=cfg.trainer,
        adam=AdamConfig(lr=cfg.lr),
    )
    behaviours, names = _behaviours(cfg)
    test_rows = data.rows_of(data.test_engines)
    init = init_params(mlp, cfg.seed)
    inputs = FederatedInputs(
        cfg, data, mlp, nodes, init, fed_cfg, behaviours, test_rows, tick or _no_progress
    )
    return inputs, partition, names


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


def run_experiment(
    runs: Runs,
    cfg: ExperimentConfig,
    progress: Progress | None = None,
    federated: FederatedRunner | None = None,
) -> ExperimentResult:
    """The FF09 experiment; `federated` runs the federated stage (default: in process)."""
    tick = progress or _no_progress
    seconds: dict[str, float] = {}
    data = prepare_protocol(runs, cfg.seed, cfg.n_test_engines, cfg.cycle_input)
    inputs, partition, names = federated_inputs(data, cfg, tick)
    mlp, init, nodes, fed_cfg = inputs.mlp, inputs.init, inputs.nodes, inputs.fed_cfg
    generator = torch.Generator().manual_seed(cfg.seed)
    test_rows = inputs.test_rows
    scores: dict[str, ModelScores] = {}

    # Naive: the median life of the training engines.
    lives = np.array(
        [
            data.runs.cycle[r[0]] + data.runs.rul[r[0]]
            for r in (data.engine_rows[e] for e in data.train_engines)
        ]
    )
    naive_pred, naive_life = naive_prediction(lives, data.runs.cycle[test_rows])
    scores["naive"] = score(data, naive_pred, test_rows)

    t0 = time.perf_counter()
    tick("centralized", 0, 1)
    everything = NodeData.from_rows(data.x, data.y, [data.rows_of(data.train_engines)])
    params = {"centralized": train_centralized(everything, init, cfg, mlp, generator)}
    tick("centralized", 1, 1)
    seconds["centralized"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    stage = (federated or federate_in_process)(inputs)
    seconds["federated"] = time.perf_counter() - t0
    reports, curve = stage.reports, stage.curve
    params["federated"] = stage.global_params.clone()
    params["local"] = stage.local_params.clone()
    averaged_in = sorted({n.node for r in reports for n in r.nodes if n.status == "trained"})
    trained_rows = {
        "centralized": everything.source_rows([0]),
        "federated": nodes.source_rows(averaged_in),
        "local": nodes.source_rows([cfg.non_participant]),
    }

    # Every node alone (all non-participants): how much a factory's own model depends on its engines.
    t0 = time.perf_counter()
    alone = Federation(nodes, [non_participant] * cfg.n_nodes, init, fed_cfg, mlp, cfg.seed + 2)
    for r in range(cfg.rounds):
        alone.run_round()
        tick("local (every node)", r + 1, cfg.rounds)
    local_all = _test_rmse_many(data, mlp, alone.node_params, test_rows)
    seconds["local_all_nodes"] = time.perf_counter() - t0

    for name in ("centralized", "local", "federated"):
        scores[name] = score(data, predict_rul(data, mlp, params[name], test_rows), test_rows)
    return ExperimentResult(
        config=cfg,
        data=data,
        mlp=mlp,
        params=params,
        scores=scores,
        naive_life=naive_life,
        federated_curve=curve,
        rounds=reports,
        partition=partition,
        behaviours=names,
        trained_rows=trained_rows,
        local_all_nodes=local_all,
        seconds=seconds,
    )

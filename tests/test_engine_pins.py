"""Pins on the engine's numbers, each checked against a value computed here independently, on the
real data and the real components: FedAvg inside a federation, the non-participant's isolation,
the rows each model is trained on, the naive model and the PHM08 score.

Every test here was checked to fail on a deliberately broken copy of the engine (equal FedAvg
weights, the non-participant averaged in or receiving the global model, test engines in the
training data, the mean life in the naive model, swapped PHM08 penalties)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import Tensor, nn
from torch.testing import assert_close

from fl_engine.data import Runs
from fl_engine.experiment import ExperimentConfig, ExperimentResult, run_experiment
from fl_engine.features import ProtocolData
from fl_engine.federated import FederatedConfig, Federation
from fl_engine.local_training import NodeData, epoch_plan
from fl_engine.metrics import naive_prediction, phm08_score
from fl_engine.model import MLPConfig, init_params, make_mlp
from fl_engine.nodes import fails_at, non_participant, participant

MLP = MLPConfig()
SEED = 11
# Engines per node, deliberately unequal: node 0 is the non-participant, node 4 is offline.
ENGINES_PER_NODE = [2, 1, 5, 2, 1, 3]
BEHAVIOURS = [non_participant, participant, participant, participant, fails_at(0), participant]
PARTICIPANTS = [1, 2, 3, 5]


# ----------------------------------------------------------------------------- FedAvg by hand


def _hand_trained(start: Tensor, x: Tensor, y: Tensor, batches: Tensor, lr: float = 1e-3) -> Tensor:
    """One local epoch written out here: nn.Sequential, autograd, a fresh torch.optim.Adam."""
    model = make_mlp(MLP)
    model.load_state_dict(MLP.layout.to_state_dict(start))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for batch in batches:
        rows = batch[batch >= 0]
        if len(rows) == 0:
            continue
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x[rows]).squeeze(-1), y[rows])
        loss.backward()
        optimizer.step()
    return MLP.layout.from_state_dict(dict(model.state_dict()))


def _weighted_mean(models: dict[int, Tensor], weights: dict[int, float]) -> Tensor:
    """sum_n w_n * model_n / sum_n w_n over the nodes in `models`, in float64."""
    total = sum(weights[n] * p.double() for n, p in models.items())
    assert isinstance(total, Tensor)
    return total / sum(weights[n] for n in models)


def test_federation_rounds_equal_a_row_weighted_fedavg_computed_by_hand(protocol: ProtocolData):
    """Two rounds of the real federation against a federation written out in this test.

    Each federating node starts from the global model and trains one epoch on its own rows; the
    new global model is the mean of the participants' models weighted by their row counts, counted
    here from the engines. The non-participant trains alone from its own model: it neither sends
    nor receives. The offline node does nothing. Both use the same minibatch order (the same
    seeded `epoch_plan` draws, in node order, for the nodes that train)."""
    engines = protocol.train_engines[: sum(ENGINES_PER_NODE)]
    bounds = np.cumsum(ENGINES_PER_NODE)[:-1]
    node_rows = [protocol.rows_of(part) for part in np.split(engines, bounds)]
    row_counts = np.array(
        [sum(len(protocol.engine_rows[e]) for e in part) for part in np.split(engines, bounds)]
    )
    assert row_counts[PARTICIPANTS].max() > 4 * row_counts[PARTICIPANTS].min()  # unequal nodes

    start = init_params(MLP, SEED)
    fed = Federation(
        NodeData.from_rows(protocol.x, protocol.y, node_rows),
        BEHAVIOURS,
        start,
        FederatedConfig(),
        MLP,
        seed=SEED,
    )

    generator = torch.Generator().manual_seed(SEED)
    trainers = sorted([0, *PARTICIPANTS])  # every node but the offline one trains each round
    global_model = start.double()
    alone = start.clone()
    for _round in range(2):
        plan = epoch_plan(torch.tensor(row_counts[trainers]), 32, generator)
        local: dict[int, Tensor] = {}
        for j, node in enumerate(trainers):
            x, y = protocol.x[node_rows[node]], protocol.y[node_rows[node]]
            begin = alone if node == 0 else global_model.float()
            local[node] = _hand_trained(begin, x, y, plan[j])
        alone = local[0]
        rows = {n: float(row_counts[n]) for n in trainers}
        by_rows = _weighted_mean({n: local[n] for n in PARTICIPANTS}, rows)
        # The wrong answers are far from the right one, so the comparison below tells them apart.
        equal_weights = _weighted_mean(
            {n: local[n] for n in PARTICIPANTS}, dict.fromkeys(rows, 1.0)
        )
        with_local = _weighted_mean(local, rows)
        assert (by_rows - equal_weights).abs().max() > 1e-3
        assert (by_rows - with_local).abs().max() > 1e-3
        global_model = by_rows

        report = fed.run_round()
        assert [n.status for n in report.nodes] == [
            "local",
            "trained",
            "trained",
            "trained",
            "offline",
            "trained",
        ]
        assert [n.rows for n in report.nodes] == row_counts.tolist()
        for node in PARTICIPANTS:  # the updates the federation averaged are the local models
            assert_close(fed.node_params[node], local[node], atol=1e-5, rtol=0)
        assert_close(fed.global_params.double(), by_rows, atol=1e-5, rtol=0)
        assert_close(fed.node_params[0], alone, atol=1e-5, rtol=0)
        assert not torch.allclose(fed.node_params[0], fed.global_params, atol=1e-3)
        assert torch.equal(fed.node_params[4], start)  # offline from round 0: never trained


# ----------------------------------------------------------------------------- the experiment


@pytest.fixture(scope="module")
def short_run(runs: Runs) -> ExperimentResult:
    """The real pipeline, shortened to one round (the pins below do not depend on training length)."""
    return run_experiment(runs, ExperimentConfig(seed=3, rounds=1))


def _rows_of_engines(runs: Runs, engines: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.isin(runs.row_engine, engines))


def test_no_model_is_trained_on_a_test_engine_row(short_run: ExperimentResult, runs: Runs):
    """The rows each model was fed, read from the node data handed to the trainers, never include
    a row of a test engine (the engines every model is scored on and the game replays)."""
    data = short_run.data
    assert len(data.test_engines) == 80 and len(data.train_engines) == 320
    test_rows = _rows_of_engines(runs, data.test_engines)
    train_rows = np.setdiff1d(np.arange(runs.n_rows), test_rows)
    fed = short_run.trained_rows
    assert set(fed) == {"centralized", "federated", "local"}
    for name, rows in fed.items():
        assert len(rows) > 0, name
        assert np.intersect1d(rows, test_rows).size == 0, name
        assert len(np.unique(rows)) == len(rows), name  # no row is fed twice per epoch
    # Centralized sees every training row; the federation's participants and the non-participant
    # share them out between them.
    assert np.array_equal(fed["centralized"], train_rows)
    assert np.intersect1d(fed["federated"], fed["local"]).size == 0
    assert np.array_equal(np.union1d(fed["federated"], fed["local"]), train_rows)
    local_engines = np.unique(runs.row_engine[fed["local"]])
    assert 1 <= len(local_engines) <= 4  # one factory's engines (4 each in the FF09 deal)


def test_node_data_records_where_each_row_came_from(protocol: ProtocolData):
    """The row record that `trained_rows` is read from describes the training tensors exactly."""
    parts = [protocol.train_engines[:3], protocol.test_engines[:1], protocol.train_engines[3:4]]
    rows = [protocol.rows_of(p) for p in parts]
    nodes = NodeData.from_rows(protocol.x, protocol.y, rows)
    assert nodes.source is not None
    for i, expected in enumerate(rows):
        n = len(expected)
        assert np.array_equal(nodes.source[i, :n].numpy(), expected)
        assert bool((nodes.source[i, n:] == -1).all())
        assert torch.equal(nodes.x[i, :n, :-1], protocol.x[expected])
        assert torch.equal(nodes.y[i, :n], protocol.y[expected])
    assert np.array_equal(nodes.source_rows([1]), np.sort(rows[1]))
    assert np.array_equal(nodes.source_rows([0, 2]), np.sort(np.r_[rows[0], rows[2]]))


def test_naive_model_is_the_median_training_life(short_run: ExperimentResult, runs: Runs):
    """The naive model on the real split, computed here: life = last cycle + final RUL of each
    training engine, RUL = max(median life - cycle, 0); RMSE, late-life RMSE and PHM08 by hand."""
    data = short_run.data
    last_row = {e: rows[-1] for e, rows in enumerate(runs.engine_rows())}
    lives = np.array([runs.cycle[last_row[e]] + runs.rul[last_row[e]] for e in data.train_engines])
    assert np.median(lives) != pytest.approx(np.mean(lives), abs=1.0)  # the two can be told apart
    median = float(np.median(lives))
    assert short_run.naive_life == median

    test_rows = _rows_of_engines(runs, data.test_engines)
    pred = np.maximum(median - runs.cycle[test_rows], 0.0)
    err = pred - runs.rul[test_rows]
    scores = short_run.scores["naive"]
    assert scores.rmse == pytest.approx(math.sqrt(np.mean(err**2)), rel=1e-12)
    late = runs.rul[test_rows] <= 50
    assert scores.late_life_rmse == pytest.approx(math.sqrt(np.mean(err[late] ** 2)), rel=1e-12)
    ends = [last_row[e] for e in data.test_engines]
    d = np.maximum(median - runs.cycle[ends], 0.0) - runs.rul[ends]
    phm = sum(math.exp(v / 10) - 1 if v > 0 else math.exp(-v / 13) - 1 for v in d)
    assert scores.phm08 == pytest.approx(phm, rel=1e-12)


# ----------------------------------------------------------------------------- hand-made cases


def test_naive_prediction_uses_the_median_not_the_mean():
    pred, life = naive_prediction(np.array([100.0, 200.0, 600.0]), np.array([1, 50, 199, 200, 450]))
    assert life == 200.0  # the mean would be 300
    assert pred.tolist() == [199.0, 150.0, 1.0, 0.0, 0.0]
    _, even = naive_prediction(np.array([100.0, 150.0, 250.0, 1000.0]), np.array([0]))
    assert even == 200.0  # the mean of the two middle lives; the mean of all four is 375


def test_phm08_punishes_late_predictions_harder_than_early_ones():
    late = phm08_score(np.array([120.0]), np.array([100.0]))  # predicted 20 cycles too many
    early = phm08_score(np.array([80.0]), np.array([100.0]))  # 20 too few
    assert late == pytest.approx(math.exp(20 / 10) - 1, rel=1e-12)  # 6.389
    assert early == pytest.approx(math.exp(20 / 13) - 1, rel=1e-12)  # 3.661
    assert late > early
    assert phm08_score(np.array([50.0]), np.array([50.0])) == 0.0
    both = phm08_score(np.array([80.0, 120.0, 7.0, 113.0]), np.array([100.0, 100.0, 20.0, 100.0]))
    assert both == pytest.approx(
        (math.exp(20 / 13) - 1)
        + (math.exp(20 / 10) - 1)
        + (math.exp(13 / 13) - 1)
        + (math.exp(13 / 10) - 1),
        rel=1e-12,
    )

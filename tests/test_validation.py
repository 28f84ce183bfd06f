"""Validation engines: settings are chosen without ever reading a test engine.

On real data (the embedded FD001+FD003 and train_FD001), with a few rounds: the split, what
trains, what is scored, and that blanking every test engine changes nothing in a selection run.
Also the server optimizers of the federated stage: FedAvg stays the default and exact, and only
the federated stage uses them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from bench.selection import Setting, choose, run_setting, selection_protocol
from fl_engine.aggregation import FedAvg, make_aggregator
from fl_engine.benchmark import BenchmarkConfig, run_benchmark
from fl_engine.benchmark_data import load_benchmark
from fl_engine.data import EMBEDDED_DATA_DIR, Runs, load_runs, load_split
from fl_engine.factory_training import train_stages
from fl_engine.factory_types import FactoryModelsConfig
from fl_engine.features import prepare_protocol
from fl_engine.model_families import family_of
from fl_engine.rounds import Stage, train_rounds
from fl_engine.validation import (
    ValidationSet,
    game_training_engines,
    only_engines,
    train_one_stage,
    truncation_rows,
    validation_protocol,
)

SEED = 0
FEW = (1, 2)  # rounds read in the selection run below: the choice is between them


@pytest.fixture(scope="module")
def runs() -> Runs:
    return load_runs(EMBEDDED_DATA_DIR)


def blank_test_engines(runs: Runs, seed: int) -> Runs:
    """The same runs with every signal and RUL of the protocol's 80 test engines set to NaN."""
    test = prepare_protocol(runs, seed).test_engines
    rows = np.isin(runs.row_engine, test)
    signals, rul = runs.signals.copy(), runs.rul.copy()
    signals[rows] = np.nan
    rul[rows] = np.nan
    return dataclasses.replace(runs, signals=signals, rul=rul)


def test_game_validation_engines_are_disjoint_from_test_and_fit_engines(runs: Runs) -> None:
    full = prepare_protocol(runs, SEED)
    pool = game_training_engines(runs.n_engines, 80, SEED)
    assert np.array_equal(pool, full.train_engines)  # the game's split, read from no data
    data = validation_protocol(runs, pool, SEED)
    ids = data.runs.engine_ids
    fit = {ids[e] for e in data.train_engines}
    validation = {ids[e] for e in data.test_engines}
    test = {runs.engine_ids[e] for e in full.test_engines}
    assert (len(fit), len(validation)) == (256, 64)
    assert not fit & validation and not validation & test and not fit & test
    assert fit | validation == {runs.engine_ids[e] for e in pool}
    assert set(ids) == fit | validation  # the selection's data holds no other engine
    # standardized with the fit engines' statistics only
    fit_rows = data.rows_of(data.train_engines)
    assert np.allclose(data.x[fit_rows].mean(0).numpy(), 0, atol=1e-4)


def test_fd001_validation_engines_are_train_file_units() -> None:
    train = load_split(EMBEDDED_DATA_DIR, "FD001", "train")
    data = validation_protocol(train, np.arange(train.n_engines), SEED)
    ids = data.runs.engine_ids
    assert len(data.train_engines) == 80 and len(data.test_engines) == 20
    assert all(i.startswith("FD001-train-") for i in ids)
    assert not {ids[e] for e in data.train_engines} & {ids[e] for e in data.test_engines}
    cuts = truncation_rows(data, SEED)
    for e, c in zip(data.test_engines, cuts, strict=True):
        assert len(c) == 10 and c.min() >= 30 and c.max() < len(data.engine_rows[e])


def test_a_selection_run_trains_on_fit_engines_only(runs: Runs) -> None:
    pool = game_training_engines(runs.n_engines, 80, SEED)
    data = validation_protocol(runs, pool, SEED)
    family = family_of("window", {"n_features": data.n_features})
    cfg = FactoryModelsConfig(seed=SEED, n_nodes=64, rounds=1, centralized_epochs=1)
    for stage in ("federated", "centralized"):
        result = train_one_stage(data, family, cfg, stage)
        drawn = np.unique(data.runs.row_engine[result.fed.any(0).numpy()])
        assert set(drawn) == set(data.train_engines), stage  # every fit engine, nothing else


def test_train_one_stage_is_train_stages(runs: Runs) -> None:
    """A selection run trains exactly what the game and the benchmark train."""
    train = load_split(EMBEDDED_DATA_DIR, "FD001", "train")
    data = validation_protocol(train, np.arange(train.n_engines), SEED)
    family = family_of("window", {"n_features": data.n_features})
    cfg = FactoryModelsConfig(
        seed=SEED, n_nodes=20, rounds=1, centralized_epochs=1, server_optimizer="fedadam"
    )
    both = train_stages(data, family, cfg, lambda *a: None, {})
    for stage, expected in (("federated", both.federated), ("centralized", both.centralized)):
        alone = train_one_stage(data, family, cfg, stage)  # type: ignore[arg-type]
        assert torch.equal(alone.params, expected.params), stage


def _selection(runs: Runs) -> tuple[list[dict[str, object]], dict[str, object]]:
    """One setting read at 1 and 2 rounds, on the game's validation engines."""
    pool = game_training_engines(runs.n_engines, 80, SEED)
    game = selection_protocol("game", SEED, validation_protocol(runs, pool, SEED))
    results = {game.key: [run_setting(game, Setting("fedadam", server_lr=0.03), FEW)]}
    scores = [r["by_rounds"] for rs in results.values() for r in rs]
    return scores, choose(results)


def test_selection_never_reads_a_test_engine(runs: Runs) -> None:
    """Blank the 80 test engines (NaN signals and RUL): the selection's scores and its choice
    are the same to the last bit, so it cannot have read them."""
    blank = blank_test_engines(runs, SEED)
    assert np.isnan(blank.signals).any()
    scores, chosen = _selection(runs)
    blank_scores, blank_chosen = _selection(blank)
    assert blank_scores == scores and blank_chosen == chosen
    assert all(np.isfinite(v) for s in scores for r in s.values() for v in r.values())  # type: ignore[attr-defined]


def test_only_engines_keeps_each_engine_whole(runs: Runs) -> None:
    picked = np.array([5, 2, 300])
    sub = only_engines(runs, picked)
    rows = runs.engine_rows()
    assert sub.engine_ids == tuple(runs.engine_ids[e] for e in picked)
    for i, e in enumerate(picked):
        assert np.array_equal(sub.signals[sub.engine_rows()[i]], runs.signals[rows[e]])
        assert np.array_equal(sub.rul[sub.engine_rows()[i]], runs.rul[rows[e]])
    with pytest.raises(ValueError):
        only_engines(runs, np.array([1, 1]))


def test_validation_scores_match_their_definitions(runs: Runs) -> None:
    train = load_split(EMBEDDED_DATA_DIR, "FD001", "train")
    data = validation_protocol(train, np.arange(train.n_engines), SEED)
    family = family_of("window", {"n_features": data.n_features})
    val = ValidationSet(data, family, SEED)
    perfect = np.minimum(val.true, 125.0)
    s = val.score(perfect)
    assert s.capped_rmse == 0 and s.truncated_capped_rmse == 0 and s.late_life_rmse == 0
    s = val.score(perfect + 3.0)
    assert s.capped_rmse == pytest.approx(3.0) and s.truncated_capped_rmse == pytest.approx(3.0)


# --- server optimizers of the federated stage ---


def test_fedavg_rule_equals_the_default_averaging() -> None:
    """`server=FedAvg()` and FedAvgM with momentum 0 and step 1 are FedAvg; none is the default."""
    torch.manual_seed(0)
    sizes = torch.tensor([3, 5, 4])
    target = torch.randn(3, 6)

    def train(params: torch.Tensor, plans: list[torch.Tensor]) -> None:
        params += 0.1 * (target - params)

    rows = torch.tensor([[0, 1, 2, -1, -1], [3, 4, 5, 6, 7], [8, 9, 10, 11, -1]])
    stage = Stage(train, sizes, rows)
    init = torch.zeros(6)

    def rounds(server: object) -> torch.Tensor:
        g = torch.Generator().manual_seed(0)
        return train_rounds(stage, init, 3, 1, 2, g, 12, True, None, server).params  # type: ignore[arg-type]

    plain = rounds(None)
    assert torch.equal(rounds(FedAvg()), plain)
    assert torch.allclose(rounds(make_aggregator("fedavgm", server_lr=1.0, momentum=0.0)), plain)
    assert not torch.allclose(rounds(make_aggregator("fedadam", server_lr=0.03)), plain)
    with pytest.raises(ValueError):
        g = torch.Generator().manual_seed(0)
        train_rounds(stage, init, 1, 1, 2, g, 12, False, None, FedAvg())


def test_server_optimizer_changes_only_the_federated_model() -> None:
    data = load_benchmark(EMBEDDED_DATA_DIR, "FD001")
    few = {"subset": "FD001", "seed": 0, "rounds": 2, "centralized_epochs": 1}
    plain = run_benchmark(data, BenchmarkConfig(**few, server_optimizer="fedavg"))
    adam = run_benchmark(data, BenchmarkConfig(**few, server_optimizer="fedadam", server_lr=0.03))
    assert adam.metrics["settings"]["server_optimizer"] == "fedadam"
    assert plain.metrics["settings"]["server_optimizer"] == "fedavg"
    assert np.array_equal(adam.predictions["centralized"], plain.predictions["centralized"])
    assert np.array_equal(adam.predictions["local"], plain.predictions["local"])
    assert not np.allclose(adam.predictions["federated"], plain.predictions["federated"])

"""Margins: the quantile read off summed histograms, the rows each model is calibrated on, and no
test engine anywhere near a calibration or a feature choice."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fl_engine.calibration import (
    BIN_WIDTH,
    N_BINS,
    CalibrationSpec,
    calibration_of,
    margin_from_histogram,
    pooled_margin,
    residual_histogram,
)
from fl_engine.data import Runs
from fl_engine.factory_calibration import cross_fit_folds, model_predictions
from fl_engine.factory_models import FactoryModels, FactoryModelsConfig, train_factory_models
from fl_engine.features import prepare_protocol
from fl_engine.lab import new_lab_run
from fl_engine.lab.calibrate import node_counts, summed_counts
from fl_engine.lab.config import LabConfig
from fl_engine.model_families import family_of

SPEC = CalibrationSpec()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    residuals=st.lists(
        st.lists(st.floats(-200.0, 400.0, allow_nan=False), min_size=0, max_size=40),
        min_size=1,
        max_size=8,
    ).filter(lambda nodes: sum(map(len, nodes)) > 0),
    level=st.sampled_from([0.5, 0.8, 0.9, 0.95]),
)
def test_summed_histograms_give_the_pooled_quantile_within_one_bin(
    residuals: list[list[float]], level: float
) -> None:
    """Nodes count their own residuals; the server's quantile of the summed counts is the pooled
    quantile rounded up to its bin's upper edge: above it, by at most one bin (give or take the
    float rounding of a residual that sits on a bin edge)."""
    spec = CalibrationSpec(level, 30.0)
    counts = sum(
        residual_histogram(np.asarray(r), np.zeros(len(r)), spec) for r in residuals
    )  # true RUL 0: every row in the window
    pooled = np.concatenate([np.asarray(r) for r in residuals])
    reference = pooled_margin(pooled, np.zeros(len(pooled)), spec)
    margin = margin_from_histogram(np.asarray(counts), level)
    assert -1e-9 < margin - reference <= BIN_WIDTH + 1e-9


def test_only_rows_inside_the_window_count() -> None:
    true = np.array([0.0, 10.0, 30.0, 31.0, 200.0])
    prediction = true + np.array([1.0, 2.0, 3.0, 99.0, 99.0])
    counts = residual_histogram(prediction, true, SPEC)
    assert counts.sum() == 3  # RUL 31 and 200 are outside the 30-cycle window
    assert margin_from_histogram(counts, 0.9) == pytest.approx(3.0 + BIN_WIDTH)


def test_nothing_to_calibrate_on_and_non_finite_predictions_are_refused() -> None:
    with pytest.raises(ValueError, match="nothing to calibrate on"):
        margin_from_histogram(residual_histogram(np.ones(3), np.full(3, 99.0), SPEC), 0.9)
    with pytest.raises(ValueError, match="not finite"):
        residual_histogram(np.array([np.nan]), np.array([1.0]), SPEC)
    with pytest.raises(ValueError, match="level"):
        CalibrationSpec(level=1.0)
    # a model with no cycle near failure to learn its margin from decides on its prediction
    empty = calibration_of(residual_histogram(np.ones(3), np.full(3, 99.0), SPEC), SPEC, "x")
    assert (empty.margin, empty.rows) == (0.0, 0)


@pytest.fixture(scope="module")
def quick_models(runs: Runs) -> FactoryModels:
    return train_factory_models(runs, FactoryModelsConfig(rounds=3, centralized_epochs=2))


def test_each_margin_is_the_quantile_on_the_rows_it_claims(
    quick_models: FactoryModels, runs: Runs
) -> None:
    """Recomputed from pooled residuals: the federated margin over every factory's engines, each
    local margin over its own factory's engines only, the centralized one over all of them."""
    m, cfg = quick_models, quick_models.config
    data = prepare_protocol(runs, cfg.seed, cfg.n_test_engines)
    family = family_of(cfg.model)
    index = {e: i for i, e in enumerate(runs.engine_ids)}
    factories = [np.array([index[e] for e in node]) for node in m.node_engines]
    every = np.concatenate(factories)
    assert set(every) == set(data.train_engines.tolist())
    target = family.target_scale(data)
    pred, true, engine_of = model_predictions(
        data, family, target, m.params["federated"][None], every, SPEC
    )
    federated = pooled_margin(pred[0], true, CalibrationSpec(SPEC.level, np.inf))
    assert 0.0 < m.calibration.federated.margin - federated <= BIN_WIDTH
    assert m.calibration.federated.rows == len(true) == m.calibration.centralized.rows
    for node in (0, 17, 79):
        own = factories[node]
        pred, true, _ = model_predictions(
            data, family, target, m.params["local"][node][None], own, SPEC
        )
        local = pooled_margin(pred[0], true, CalibrationSpec(SPEC.level, np.inf))
        assert 0.0 < m.calibration.local[node].margin - local <= BIN_WIDTH
        assert m.calibration.local[node].rows == len(true)
        assert m.calibration.local[node].rows == int(np.isin(engine_of, own).sum())
    margins = {c.margin for c in m.calibration.local}
    assert len(margins) > 10  # each factory its own


def test_no_test_engine_reaches_a_calibration_or_the_feature_choice(
    quick_models: FactoryModels, runs: Runs
) -> None:
    """Blank out every signal of the 80 test engines: the features chosen, the models and every
    margin stay exactly the same (only the test scores change)."""
    index = {e: i for i, e in enumerate(runs.engine_ids)}
    test_rows = np.concatenate([runs.engine_rows()[index[e]] for e in quick_models.test_engines])
    signals = runs.signals.copy()
    signals[test_rows] = np.nan
    blind = train_factory_models(dataclasses.replace(runs, signals=signals), quick_models.config)
    assert blind.features.names == quick_models.features.names
    assert blind.calibration == quick_models.calibration
    for name in ("centralized", "federated", "local"):
        assert bool((blind.params[name] == quick_models.params[name]).all())


def test_cross_fit_folds_leave_each_factory_engines_to_train_on() -> None:
    partition = [np.array([4, 9, 2, 7]), np.array([1, 3, 5, 8])]
    folds = cross_fit_folds(partition)
    assert [f[0].tolist() for f in folds] == [[4, 2], [9, 7]]
    for node, engines in enumerate(partition):  # the folds split each factory's engines
        held = np.concatenate([f[node] for f in folds])
        assert sorted(held.tolist()) == sorted(engines.tolist())
    with pytest.raises(ValueError, match="at least 2 engines"):
        cross_fit_folds([np.array([1])])


def test_cross_fit_margins_come_from_models_blind_to_the_engines(runs: Runs) -> None:
    """Cross-fit measures residuals with fold models that never saw them: the same models but
    other margins than in-sample, and a local margin from models trained on half the engines
    (larger: a 2-engine model is worse than a 4-engine one on the engines it did not see)."""
    cfg = FactoryModelsConfig(rounds=3, centralized_epochs=2, n_nodes=20)
    inside = train_factory_models(runs, cfg)
    crossed = train_factory_models(runs, cfg.model_copy(update={"calibration": "cross-fit"}))
    for name in ("centralized", "federated", "local"):
        assert bool((inside.params[name] == crossed.params[name]).all())
    assert crossed.calibration.federated.method == "cross-fit"
    assert crossed.calibration.federated.rows == inside.calibration.federated.rows
    local_in = np.median([c.margin for c in inside.calibration.local])
    local_cross = np.median([c.margin for c in crossed.calibration.local])
    assert local_cross > local_in
    assert crossed.metrics["seconds"].keys() >= {"cross_fit_1", "cross_fit_2"}


def test_the_lab_sums_node_counts_through_secure_aggregation_exactly() -> None:
    """Counts are integers: the masked sum (no fixed-point scaling) equals the plain sum."""
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 40, size=(6, N_BINS)).astype(np.int64)
    assert np.array_equal(summed_counts(counts, secure=True), counts.sum(0))
    assert np.array_equal(summed_counts(counts, secure=False), counts.sum(0))


def test_a_lab_margin_is_read_off_every_base_nodes_counts(runs: Runs) -> None:
    run = new_lab_run(runs, LabConfig(model="ff09", nodes=8, rounds=1, seed=2))
    run.run()
    counts = node_counts(run, SPEC)
    assert counts.shape == (8, N_BINS)
    calibration = run.calibration()
    assert calibration.rows == int(counts.sum())
    assert calibration.margin == margin_from_histogram(counts.sum(0), SPEC.level)
    late = sum(int((run.data.runs.rul[rows] <= SPEC.window).sum()) for rows in run.partition)
    assert calibration.rows == late  # each node's own rows in the window, nothing else

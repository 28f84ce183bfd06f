"""Deploying a lab model into the game (docs/lab.md, section 3), with the game's real engines."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from app.game.settings import GameSettings
from app.lab_bridge import deployed_traces, percent_of_oracle
from fl_engine.data import Runs
from fl_engine.lab import LabConfig, LabRun


@pytest.fixture(scope="module")
def lab_run(runs: Runs) -> LabRun:
    run = LabRun(runs, LabConfig(nodes=80, rounds=3))
    run.run()
    return run


def test_deploying_replaces_the_federated_predictions_and_margin_and_nothing_else(
    game_models, lab_run: LabRun, runs: Runs
) -> None:
    traces = game_models.traces
    deployed = deployed_traces(traces, lab_run, runs)
    assert [t.engine_id for t in deployed] == [t.engine_id for t in traces]
    for old, new in zip(traces, deployed, strict=True):
        assert new.federated_rul.shape == old.federated_rul.shape
        assert np.all(new.federated_rul >= 0)
        for field in dataclasses.fields(old):
            if field.name not in ("federated_rul", "margins"):
                a, b = getattr(old, field.name), getattr(new, field.name)
                assert a is b or np.array_equal(a, b), field.name
        assert new.margins.federated == lab_run.calibration().margin
        assert new.margins.centralized == old.margins.centralized
        assert new.margins.local is old.margins.local
    assert deployed[0].margins.federated != traces[0].margins.federated
    assert not np.allclose(
        np.concatenate([t.federated_rul for t in traces]),
        np.concatenate([t.federated_rul for t in deployed]),
    )
    # the lab model's own prediction of one engine, read directly
    index = runs.engine_ids.index(traces[0].engine_id)
    rows = runs.engine_rows()[index]
    direct = lab_run.predict(lab_run.features.standardize(runs, rows), [np.arange(len(rows))])
    assert np.allclose(direct, deployed[0].federated_rul)


def test_percent_of_oracle_is_a_share_of_the_oracles_profit(game_models, lab_run, runs) -> None:
    settings, traces = GameSettings(), game_models.traces
    shipped = percent_of_oracle(game_models.traces, settings, seeds=range(2))
    assert 0 < shipped <= 100
    deployed = percent_of_oracle(deployed_traces(game_models.traces, lab_run, runs), settings)
    assert np.isfinite(deployed) and deployed <= 100
    last_cycle = [np.where(np.arange(t.n_cycles) == t.n_cycles - 1, 0.0, 1e6) for t in traces]
    oracle = [
        dataclasses.replace(t, federated_rul=rul) for t, rul in zip(traces, last_cycle, strict=True)
    ]  # below any threshold on the last cycle only: maintained there, as the oracle does
    assert percent_of_oracle(oracle, settings) == pytest.approx(100.0)


def test_a_model_of_the_condition_partition_is_refused(game_models, runs: Runs) -> None:
    run = LabRun(runs, LabConfig(nodes=8, rounds=1, partition="condition"))
    with pytest.raises(ValueError, match="operating-condition partition"):
        deployed_traces(game_models.traces, run, runs)

"""The vectorized many-factory simulation equals the tick-by-tick rule book."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from crafted_engines import engine, noisy_pool

from app.game.analysis import compare_policies
from app.game.engines import EngineTrace, Margins
from app.game.fleet import (
    Fates,
    baseline_fates,
    engine_lengths,
    predictive_fates,
    simulate_fleet,
)
from app.game.settings import GameSettings

POLICIES = ("corrective", "preventative", "local", "federated", "oracle")


def _fates(pool: list[EngineTrace], settings: GameSettings) -> Fates:
    lengths = engine_lengths(pool)
    margins = [pool[0].margin(m, settings.decision) for m in ("local", "federated")]
    models = predictive_fates(
        [np.stack([t.local_rul[0], t.federated_rul]) for t in pool],
        lengths,
        settings.rul_threshold,
        np.array(margins),
    )
    parts = {
        p: baseline_fates(p, lengths, settings) for p in ("corrective", "preventative", "oracle")
    }
    parts["local"] = (models[0][0], models[1][0])
    parts["federated"] = (models[0][1], models[1][1])
    return Fates(
        cycles=np.stack([parts[p][0] for p in POLICIES]),
        maintained=np.stack([parts[p][1] for p in POLICIES]),
    )


@pytest.mark.parametrize(
    ("pool_seed", "game_seed", "n_ticks", "settings"),
    [
        (0, 0, 3000, GameSettings()),
        (1, 7, 2500, GameSettings(n_slots=3, maintenance_downtime=5, failure_downtime=90)),
        (2, 3, 1, GameSettings()),
        (3, 11, 0, GameSettings(n_slots=1)),
    ],
)
def test_fleet_equals_the_step_function(
    pool_seed: int, game_seed: int, n_ticks: int, settings: GameSettings
) -> None:
    pool = noisy_pool(40, seed=pool_seed)
    # Edge cases: an engine whose model says "maintain" on its very last cycle, and one on cycle 1.
    last = engine(150, "last-cycle", local_error=9.5)  # RUL 9.5 only on cycle 150
    first = engine(140, "first-cycle", federated_error=-200.0)
    pool = [*pool, last, first]
    reference = compare_policies(pool, settings, seed=game_seed, n_ticks=n_ticks, policies=POLICIES)
    fleet = simulate_fleet(_fates(pool, settings), settings, game_seed, n_ticks)
    for i, ref in enumerate(reference):
        assert ref.policy == POLICIES[i]
        assert fleet.profit[i] == pytest.approx(ref.profit), ref.policy
        assert fleet.active_cycles[i] == ref.active_cycles, ref.policy
        assert fleet.maintenances[i] == ref.maintenances, ref.policy
        assert fleet.failures[i] == ref.failures, ref.policy


@pytest.mark.parametrize("decision", ["calibrated", "raw"])
def test_fleet_on_the_real_held_out_engines(game_models, decision: str) -> None:
    pool = list(game_models.traces)
    settings = GameSettings(decision=decision)
    reference = compare_policies(pool, settings, seed=5, n_ticks=4000, policies=POLICIES)
    fleet = simulate_fleet(_fates(pool, settings), settings, 5, 4000)
    assert [r.profit for r in reference] == pytest.approx(list(fleet.profit))
    assert [r.failures for r in reference] == list(fleet.failures)


@pytest.mark.parametrize("decision", ["calibrated", "raw"])
def test_fleet_equals_the_step_function_on_the_tick_a_chain_ends(decision: str) -> None:
    """One slot, engines whose decisions are known: every cut-off from just before to just after
    each engine leaves its slot, so a cost booked a tick early or late is caught."""
    margins = Margins(federated=4.0, local=np.array([-2.0]))
    pool = [
        dataclasses.replace(t, margins=margins)
        for t in (
            engine(30, "a", federated_error=12.0, local_error=9.0),  # calibrated: maintained
            engine(25, "b", federated_error=16.0, local_error=-3.0),  # failed / maintained
            engine(40, "c", federated_error=5.0, local_error=13.0),
        )
    ]
    settings = GameSettings(n_slots=1, decision=decision, maintenance_downtime=3)
    fates = _fates(pool, settings)
    ends = np.cumsum(np.sort(fates.cycles, axis=1), axis=1)  # about where chains cross ticks
    cut_offs = sorted({int(t) + d for t in ends.ravel() for d in (-1, 0, 1)} | {1, 2})
    for n_ticks in [*cut_offs, 90, 91, 92, 93, 94, 95, 96]:
        reference = compare_policies(pool, settings, seed=1, n_ticks=n_ticks, policies=POLICIES)
        fleet = simulate_fleet(fates, settings, 1, n_ticks)
        assert list(fleet.profit) == [r.profit for r in reference], n_ticks
        assert list(fleet.maintenances) == [r.maintenances for r in reference], n_ticks
        assert list(fleet.failures) == [r.failures for r in reference], n_ticks


def test_fates_of_a_prediction_below_the_threshold_on_the_last_cycle() -> None:
    lengths = np.array([5], dtype=np.int64)
    rul = np.array([[50.0, 40, 30, 20, 9.9], [50.0, 40, 30, 20, 10.0], [9.0, 1, 1, 1, 1]])
    cycles, maintained = predictive_fates([rul], lengths, 10.0)
    assert cycles[:, 0].tolist() == [5, 5, 1]
    assert maintained[:, 0].tolist() == [True, False, True]

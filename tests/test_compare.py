"""The comparison of federated against every factory's local model, checked against the rules."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from app.game.compare import SeedComparison, compare_seed, summarize
from app.game.engines import EngineTrace, Margins
from app.game.settings import GameSettings
from app.game.simulation import advance_factory, new_factory


def _pool(n_engines: int, n_nodes: int, seed: int) -> list[EngineTrace]:
    """Engines whose local models get noisier node by node; federated and centralized are good."""
    rng = np.random.default_rng(seed)
    pool = []
    for i in range(n_engines):
        n = int(rng.integers(128, 362))
        true_rul = np.arange(n - 1, -1, -1, dtype=float)
        noise = np.linspace(2.0, 25.0, n_nodes)[:, None] * rng.normal(size=(n_nodes, n))
        pool.append(
            EngineTrace(
                engine_id=f"e{i}",
                sensors=np.zeros((n, 16)),
                local_rul=true_rul[None, :] + noise,
                federated_rul=true_rul + rng.normal(0.0, 3.0, n),
                centralized_rul=true_rul + rng.normal(0.0, 2.0, n),
            )
        )
    return pool


def _profit_by_steps(pool, settings, seed, n_ticks, policy, node=0) -> float:
    factory = new_factory(policy, policy, 0, pool, settings, seed, fair_draws=True, node=node)
    for tick in range(1, n_ticks + 1):
        factory = advance_factory(factory, tick, pool, settings, seed, fair_draws=True)[0]
    return factory.profit


def _failures_by_steps(pool, settings, seed, n_ticks, policy, node=0) -> int:
    factory = new_factory(policy, policy, 0, pool, settings, seed, fair_draws=True, node=node)
    for tick in range(1, n_ticks + 1):
        factory = advance_factory(factory, tick, pool, settings, seed, fair_draws=True)[0]
    return factory.failures


def _with_margins(pool: list[EngineTrace], n_nodes: int) -> list[EngineTrace]:
    """Every model with its own margin (local: a different one per factory)."""
    margins = Margins(federated=4.5, centralized=-1.25, local=np.linspace(-3.0, 12.0, n_nodes))
    return [dataclasses.replace(t, margins=margins) for t in pool]


@pytest.mark.parametrize("decision", ["calibrated", "raw"])
def test_each_factorys_local_result_equals_playing_it_tick_by_tick(decision: str) -> None:
    settings = GameSettings(decision=decision)
    pool = _with_margins(_pool(30, n_nodes=6, seed=1), 6)
    result = compare_seed(pool, settings, seed=3, n_ticks=1500)
    oracle = _profit_by_steps(pool, settings, 3, 1500, "oracle")
    assert len(result.local_by_factory) == 6
    for node in range(6):
        local = _profit_by_steps(pool, settings, 3, 1500, "local", node)
        assert result.local_by_factory[node] == pytest.approx(100 * local / oracle)
    for policy in ("corrective", "preventative", "federated"):
        expected = 100 * _profit_by_steps(pool, settings, 3, 1500, policy) / oracle
        assert result.percent_of_oracle[policy] == pytest.approx(expected), policy
        failures = _failures_by_steps(pool, settings, 3, 1500, policy)
        assert result.failures[policy] == failures, policy
    local_failures = [_failures_by_steps(pool, settings, 3, 1500, "local", n) for n in range(6)]
    assert result.failures["local_median"] == np.median(local_failures)
    assert result.failures["federated"] < result.failures["corrective"]
    assert set(result.percent_of_oracle) == {
        "corrective",
        "preventative",
        "federated",
        "centralized",
    }
    # Noisier local models earn less: the first nodes beat the last ones.
    assert result.local_by_factory[0] > result.local_by_factory[-1]


def test_the_margins_change_the_decisions_only_when_calibrated() -> None:
    pool = _pool(30, n_nodes=6, seed=1)
    calibrated, raw = GameSettings(), GameSettings(decision="raw")
    plain = compare_seed(pool, raw, seed=3, n_ticks=1500)
    assert compare_seed(pool, calibrated, seed=3, n_ticks=1500) == plain  # margins 0
    margined = _with_margins(pool, 6)
    assert compare_seed(margined, raw, seed=3, n_ticks=1500) == plain
    moved = compare_seed(margined, calibrated, seed=3, n_ticks=1500)
    # 4.5 cycles early costs almost nothing in a fixed horizon (the next engine starts earlier),
    # but every factory's own margin moves its decisions, and so its profit
    assert moved.percent_of_oracle["federated"] == pytest.approx(
        plain.percent_of_oracle["federated"], abs=2.0
    )
    changed = np.asarray(moved.local_by_factory) != np.asarray(plain.local_by_factory)
    assert changed.sum() >= 3  # (a margin of 0 or -3 moves few decisions)


def test_the_summary_pairs_factories_with_their_seeds_federated_result() -> None:
    seeds = [
        SeedComparison(0, {"federated": 90.0}, [80.0, 85.0, 95.0, 70.0]),
        SeedComparison(1, {"federated": 95.0}, [90.0, 100.0, 85.0, 75.0]),
    ]
    summary = summarize(seeds, n_resamples=500)
    diffs = [10.0, 5.0, -5.0, 20.0, 5.0, -5.0, 10.0, 20.0]
    assert summary.mean == pytest.approx(np.mean(diffs))
    assert summary.share_federated_beats_local == pytest.approx(6 / 8)
    lo, hi = summary.ci95
    assert min(diffs) <= lo < summary.mean < hi <= max(diffs)
    assert data_json_keys(summary) >= {"failures"}
    data = summary.to_json()
    assert data["federated_minus_local"]["mean"] == pytest.approx(7.5)
    assert data["seeds"][1]["local_by_factory"] == [90.0, 100.0, 85.0, 75.0]


def data_json_keys(summary) -> set[str]:
    return set(summary.to_json()["seeds"][0])


def test_the_interval_is_the_central_95_percent_of_the_bootstrap() -> None:
    """One seed of 400 factories: the bootstrap of a mean is about normal with standard error
    sd / sqrt(n), so a 2.5-97.5 interval is 2 x 1.96 standard errors wide (a 5-95 one: 1.645)."""
    rng = np.random.default_rng(4)
    local = list(rng.normal(50.0, 20.0, 400))
    summary = summarize([SeedComparison(0, {"federated": 90.0}, local)], n_resamples=4000)
    lo, hi = summary.ci95
    se = np.std(local) / np.sqrt(len(local))
    assert (hi - lo) / (2 * se) == pytest.approx(1.96, rel=0.05)
    assert (lo + hi) / 2 == pytest.approx(summary.mean, abs=0.3 * se)


def test_no_seeds_or_no_oracle_profit_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no seed"):
        summarize([])
    with pytest.raises(ValueError, match="run more ticks"):
        compare_seed(_pool(5, 2, 0), GameSettings(), seed=0, n_ticks=0)

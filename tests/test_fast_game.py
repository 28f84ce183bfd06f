"""The fast tick path against the reference rule book: equal states, tick after tick.

`FastGame` must be `simulation.step` in every observable way, so these play the reference and the
fast path side by side on the real held-out engines, with player commands at random ticks
(hypothesis draws them), and compare the whole state and each tick's profit point. The decision
tables are checked against `should_maintain` itself on every cycle of a crafted pool.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import pytest
from crafted_engines import engine, noisy_pool
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.game import progress as rules
from app.game.decisions import DecisionTables
from app.game.engines import EngineTrace, Margins
from app.game.fast import FastGame
from app.game.history import ProfitPoint
from app.game.settings import GameSettings
from app.game.simulation import new_game, step
from app.game.state import GameState
from app.game.strategies import POLICIES, STRATEGIES, should_maintain

COMMANDS = (*STRATEGIES, "hire", "accept", "free_on", "free_off")
TICKS = 3_000


def command(state: GameState, name: str, game_settings: GameSettings) -> GameState:
    """A player action as the server would apply it; one the rules refuse changes nothing."""
    try:
        if name == "hire":
            return rules.hire_data_scientist(state, game_settings)
        if name == "accept":
            return rules.accept_federation(state, game_settings)
        if name in ("free_on", "free_off"):
            return rules.set_free_play(state, name == "free_on", game_settings)
        return rules.set_strategy(state, name, game_settings)
    except rules.GameRuleError:
        return state


def play_both(
    pool: Sequence[EngineTrace],
    game_settings: GameSettings,
    seed: int,
    commands: dict[int, list[str]],
    ticks: int = TICKS,
    compare_every: int = 97,
) -> GameState:
    """Play the reference and the fast path side by side; every check is an exact `==`."""
    tables = DecisionTables(pool, game_settings)
    reference = new_game(pool, game_settings, seed)
    fast = FastGame.from_state(reference, pool, game_settings, tables)
    for tick in range(ticks):
        if tick in commands:
            assert fast.state() == reference
            for name in commands[tick]:
                reference = command(reference, name, game_settings)
            fast = FastGame.from_state(command_all(fast.state(), commands[tick], game_settings),
                                       pool, game_settings, tables)  # fmt: skip
            assert fast.state() == reference
        reference = step(reference, pool, game_settings)
        fast.step()
        assert fast.tick == reference.tick
        assert fast.profit_point() == ProfitPoint.of(reference)
        if tick % compare_every == 0:
            assert fast.state() == reference
    assert fast.state() == reference
    return reference


def command_all(state: GameState, names: list[str], game_settings: GameSettings) -> GameState:
    for name in names:
        state = command(state, name, game_settings)
    return state


@pytest.mark.parametrize(("seed", "decision"), [(0, "calibrated"), (7, "calibrated"), (0, "raw")])
def test_the_fast_path_plays_every_unlock_as_the_reference_does(
    game_models, seed: int, decision: str
) -> None:
    """A scripted way through every unlock, the ghost and a season won, on the real engines
    (with their real margins), under either decision."""
    pool = game_models.traces
    assert pool[0].margins.federated != 0.0
    game_settings = GameSettings(
        season_goal=1_200_000.0, federation_offer_after_cycles=150, decision=decision
    )
    script = {400: ["hire", "preventative"], 700: ["hire", "local"], 900: ["accept"]}
    script |= {950: ["federated"], 1500: ["free_on", "corrective"], 1700: ["free_off"]}
    final = play_both(pool, game_settings, seed, script)
    assert final.ghost is not None
    assert final.season.winner is not None
    assert final.progress.federation_accepted
    assert {e.kind for e in final.events} >= {"maintenance"}


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 2**16),
    commands=st.dictionaries(
        st.integers(0, TICKS - 1), st.lists(st.sampled_from(COMMANDS), min_size=1, max_size=3),
        max_size=12,
    ),
)  # fmt: skip
def test_the_fast_path_equals_the_reference_under_random_commands(
    game_models, seed: int, commands: dict[int, list[str]]
) -> None:
    play_both(game_models.traces, GameSettings(), seed, commands)


def test_odd_settings_and_tiny_engines_play_alike() -> None:
    """Zero downtime, one-cycle engines, independent draws, few events kept, odd money."""
    pool = [engine(1), engine(2, "two", local_error=30.0), engine(3, federated_error=-5.0)]
    pool += noisy_pool(9, seed=3)
    game_settings = GameSettings(
        maintenance_downtime=0,
        failure_downtime=1,
        fair_draws=False,
        recent_events=3,
        revenue_per_cycle=0.1,
        maintenance_cost=0.7,
        failure_cost=1.3,
        preventative_cycle=2,
        failures_to_unlock_preventative=0,
        federation_offer_after_cycles=0,
        season_goal=30.0,
    )
    commands = {3: ["free_on", "federated"], 50: ["local"], 80: ["free_off"], 90: ["preventative"]}
    final = play_both(pool, game_settings, 3, commands, ticks=600, compare_every=1)
    assert final.season.winner is not None


def test_calibrated_with_zero_margins_plays_the_raw_rule_tick_for_tick() -> None:
    pool = noisy_pool(20, seed=4)
    commands = {0: ["free_on", "local"], 700: ["federated"], 1400: ["preventative"]}
    commands |= {1900: ["federated"]}
    raw = play_both(pool, GameSettings(decision="raw"), 2, commands, ticks=2500)
    calibrated = play_both(pool, GameSettings(), 2, commands, ticks=2500)
    assert calibrated == raw
    margined = [dataclasses.replace(t, margins=Margins(federated=6.0, local=np.array([3.0])))
                for t in pool]  # fmt: skip
    assert play_both(margined, GameSettings(), 2, commands, ticks=2500) != raw


def three_node_pool() -> list[EngineTrace]:
    """Engines whose three local models and federated model straddle the threshold often."""
    rng = np.random.default_rng(5)
    pool = []
    for i in range(12):
        n = int(rng.integers(1, 60))
        true_rul = np.arange(n - 1, -1, -1, dtype=float)
        dtype = np.float32 if i % 2 else np.float64
        pool.append(
            EngineTrace(
                engine_id=f"three-{i}",
                sensors=np.zeros((n, 2)),
                local_rul=(true_rul + rng.normal(0.0, 6.0, (3, n))).astype(dtype),
                federated_rul=(true_rul + rng.normal(0.0, 6.0, n)).astype(dtype),
            )
        )
    return pool


@pytest.mark.parametrize(
    ("threshold", "decision", "margins"),
    [
        (10.0, "calibrated", Margins()),
        (10.3, "calibrated", Margins()),
        (10.0, "calibrated", Margins(federated=3.3, local=np.array([2.5, 0.0, -1.7]))),
        (10.0, "raw", Margins(federated=3.3, local=np.array([2.5, 0.0, -1.7]))),
    ],
)
def test_decision_tables_equal_should_maintain_on_every_cycle(
    threshold: float, decision: str, margins: Margins
) -> None:
    pool = [dataclasses.replace(t, margins=margins) for t in three_node_pool()]
    game_settings = GameSettings(rul_threshold=threshold, preventative_cycle=20, decision=decision)
    tables = DecisionTables(pool, game_settings)
    for policy in POLICIES:
        for node in range(3):
            maintain = tables.maintain(policy, node)
            stops = tables.next_stop(policy, node)
            for e, trace in enumerate(pool):
                n = trace.n_cycles
                assert tables.n_cycles[e] == n
                expected = [should_maintain(policy, trace, c, game_settings, node) for c in
                            range(1, n + 1)]  # fmt: skip
                assert maintain[e][1:] == expected
                assert [tables.should_maintain(policy, e, c, node) for c in range(1, n + 1)] == (
                    expected
                )
                for c in range(n):  # the next leaving cycle: the first maintain after c, or n
                    assert stops[e][c] == next((j for j in range(c + 1, n) if expected[j - 1]), n)


def test_fast_games_refuse_states_and_tables_that_do_not_fit() -> None:
    pool = noisy_pool(8)
    game_settings = GameSettings()
    tables = DecisionTables(pool, game_settings)
    state = new_game(pool, game_settings, 0)
    with pytest.raises(ValueError, match="decision tables"):
        FastGame.from_state(state, noisy_pool(8), game_settings, tables)
    with pytest.raises(ValueError, match="decision tables"):
        FastGame.from_state(state, pool, GameSettings(maintenance_cost=1.0), tables)
    smaller = DecisionTables(pool[:2], game_settings)
    with pytest.raises(ValueError, match="pool of 2"):
        FastGame.from_state(state, pool[:2], game_settings, smaller)
    with pytest.raises(ValueError, match="unknown policy"):
        tables.maintain("psychic")

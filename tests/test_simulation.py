"""The rule book, rule by rule, on crafted engines with exact dollar figures; no server."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from crafted_engines import engine, noisy_pool
from pydantic import ValidationError

from app.game import progress as rules
from app.game.analysis import compare_policies
from app.game.compare import compare_seed
from app.game.draws import draw_engine, slot_engines
from app.game.engines import EngineTrace
from app.game.progress import GameRuleError
from app.game.settings import GameSettings
from app.game.simulation import advance_factory, new_game, run, step
from app.game.state import GameState

# One slot, no competitors: every dollar in these tests is the player's single slot's.
SOLO = GameSettings(n_slots=1, n_competitors=0)


def with_strategy(state: GameState, strategy: str) -> GameState:
    """The game with the player on `strategy`, bypassing unlocks (the rules are tested apart)."""
    player = replace(state.player, strategy=strategy)
    return replace(state, factories=(player, *state.factories[1:]))


def solo_game(pool, strategy: str = "corrective", settings: GameSettings = SOLO) -> GameState:
    return with_strategy(new_game(pool, settings, seed=0), strategy)


def profit_identity_holds(state: GameState, settings: GameSettings) -> bool:
    return all(
        f.profit
        == pytest.approx(
            settings.revenue_per_cycle * f.active_cycles
            - settings.maintenance_cost * f.maintenances
            - settings.failure_cost * f.failures
        )
        for f in state.factories
    )


# ---------------------------------------------------------------- one engine, one slot


def test_a_new_game_has_engines_installed_but_not_run():
    state = new_game([engine(5)], GameSettings(), seed=0)
    assert state.tick == 0
    assert [f.name for f in state.factories] == [
        "Your factory",
        "Rustbelt Rotors",
        "Clockwork Turbines",
        "Solo Sensors Inc.",
    ]
    for factory in state.factories:
        assert factory.profit == 0
        assert [s.cycle for s in factory.slots] == [0, 0, 0, 0]
        assert {s.status for s in factory.slots} == {"running"}


def test_every_running_cycle_earns_250():
    state = run(solo_game([engine(50)]), [engine(50)], SOLO, 7)
    assert state.player.profit == 7 * 250
    assert state.player.active_cycles == 7
    assert state.player.slots[0].cycle == 7


def test_corrective_engine_fails_after_its_last_cycle_which_earns():
    pool = [engine(5)]
    state = run(solo_game(pool), pool, SOLO, 4)
    assert state.player.slots[0].status == "running"
    state = step(state, pool, SOLO)  # tick 5: runs the last cycle, then fails
    player = state.player
    assert player.profit == 5 * 250 - 60_000 == -58_750
    assert (player.failures, player.maintenances, player.active_cycles) == (1, 0, 5)
    assert player.slots[0].status == "down"
    assert player.slots[0].downtime_left == 60
    assert player.slots[0].cycle == 5  # still shows the failed engine
    assert state.events[-1].kind == "failure"


def test_failure_downtime_is_60_ticks_then_a_new_engine_runs_its_cycle_1():
    pool = [engine(5)]
    state = run(solo_game(pool), pool, SOLO, 5)
    for left in range(59, -1, -1):  # ticks 6..65 earn nothing
        state = step(state, pool, SOLO)
        assert state.player.slots[0].downtime_left == left
        assert state.player.profit == -58_750
    assert state.player.slots[0].status == "down"
    state = step(state, pool, SOLO)  # tick 66
    slot = state.player.slots[0]
    assert (slot.status, slot.cycle, slot.draws) == ("running", 1, 2)
    assert state.player.profit == -58_750 + 250


def test_local_predictive_maintains_when_predicted_rul_drops_below_10():
    # Perfect predictions: RUL after cycle c is 30 - c, below 10 first after cycle 21.
    pool = [engine(30)]
    state = run(solo_game(pool, "local"), pool, SOLO, 20)
    assert state.player.slots[0].status == "running"
    state = step(state, pool, SOLO)
    player = state.player
    assert player.profit == 21 * 250 - 10_000 == -4_750
    assert (player.maintenances, player.failures) == (1, 0)
    assert (player.slots[0].status, player.slots[0].downtime_left) == ("maintenance", 20)
    assert state.events[-1].kind == "maintenance"


def test_maintenance_downtime_is_20_ticks():
    pool = [engine(30)]
    state = run(solo_game(pool, "local"), pool, SOLO, 21 + 20)
    assert state.player.slots[0].status == "maintenance"
    assert state.player.slots[0].downtime_left == 0
    assert state.player.profit == -4_750
    state = step(state, pool, SOLO)  # tick 42: the next engine's first cycle
    assert state.player.slots[0].status == "running"
    assert state.player.slots[0].cycle == 1
    assert state.player.profit == -4_750 + 250


def test_downtimes_follow_the_settings():
    settings = GameSettings(n_slots=1, n_competitors=0, maintenance_downtime=3, failure_downtime=2)
    pool = [engine(4)]
    state = run(solo_game(pool, settings=settings), pool, settings, 4)
    assert state.player.slots[0].downtime_left == 2
    state = run(state, pool, settings, 2)
    assert state.player.profit == 4 * 250 - 60_000
    state = step(state, pool, settings)
    assert state.player.slots[0].cycle == 1


def test_federated_predictive_uses_the_federated_model():
    # The local model is 15 cycles optimistic (never below 10 before the failure); the federated
    # model is exact (below 10 after cycle 41).
    pool = [engine(50, local_error=15.0, federated_error=0.0)]
    local = run(solo_game(pool, "local"), pool, SOLO, 50).player
    federated = run(solo_game(pool, "federated"), pool, SOLO, 50).player
    assert (local.failures, local.profit) == (1, 50 * 250 - 60_000)
    assert (federated.maintenances, federated.failures) == (1, 0)
    assert federated.profit == 41 * 250 - 10_000  # then down for the other 9 ticks


def test_preventative_maintains_after_cycle_193():
    pool = [engine(300)]
    state = run(solo_game(pool, "preventative"), pool, SOLO, 192)
    assert state.player.slots[0].status == "running"
    assert state.player.profit == 192 * 250
    state = step(state, pool, SOLO)
    assert state.player.profit == 193 * 250 - 10_000 == 38_250
    assert state.player.slots[0].status == "maintenance"


def test_preventative_cannot_save_an_engine_shorter_than_193_cycles():
    pool = [engine(150)]
    state = run(solo_game(pool, "preventative"), pool, SOLO, 150)
    assert (state.player.failures, state.player.profit) == (1, 150 * 250 - 60_000)


def test_maintenance_on_the_last_cycle_wins_over_the_failure():
    settings = GameSettings(n_slots=1, n_competitors=0, rul_threshold=1)  # maintain at RUL 0
    pool = [engine(10)]
    state = run(solo_game(pool, "local", settings), pool, settings, 10)
    assert (state.player.maintenances, state.player.failures) == (1, 0)
    assert state.player.profit == 10 * 250 - 10_000


def test_a_strategy_switched_on_late_maintains_at_once():
    pool = [engine(300)]
    state = run(solo_game(pool), pool, SOLO, 250)  # corrective past cycle 193
    state = step(with_strategy(state, "preventative"), pool, SOLO)
    assert state.player.slots[0].status == "maintenance"
    assert state.player.slots[0].cycle == 251


def test_a_new_engine_is_the_slots_next_seeded_draw():
    pool = [engine(n, f"E{n}") for n in (3, 4, 5, 6, 7)]
    state = solo_game(pool)
    ids = [pool[state.player.slots[0].engine].engine_id]
    for _ in range(600):  # about 65 ticks per engine
        before = state.player.slots[0].draws
        state = step(state, pool, SOLO)
        slot = state.player.slots[0]
        if slot.draws != before:
            assert slot.cycle == 1
            assert slot.engine == draw_engine(0, True, state.player.stream, 0, before, len(pool), 1)
            ids.append(pool[slot.engine].engine_id)
    assert len(ids) > 5
    # A deck deals each engine once before any engine comes again.
    assert sorted(ids[:5]) == sorted(e.engine_id for e in pool)


# ---------------------------------------------------------------- unlocks


def unlock_settings(**overrides) -> GameSettings:
    return GameSettings(n_slots=1, n_competitors=0, **overrides)


def test_only_corrective_is_unlocked_at_the_start():
    state = new_game([engine(5)], GameSettings(), seed=0)
    assert rules.unlocked(state.progress) == ["corrective"]
    assert not rules.hire_offered(state.progress, state.player, GameSettings())
    assert not rules.federation_offered(state.progress)
    with pytest.raises(GameRuleError, match=r"'preventative' is locked.*4 failures"):
        rules.set_strategy(state, "preventative", GameSettings())
    with pytest.raises(GameRuleError, match="'federated' is locked"):
        rules.set_strategy(state, "federated", GameSettings())
    with pytest.raises(GameRuleError, match="unknown strategy 'oracle'"):
        rules.set_strategy(state, "oracle", GameSettings())


def test_preventative_unlocks_after_4_failures_and_a_data_scientist_is_offered_later():
    settings = unlock_settings()
    pool = [engine(3)]
    state = new_game(pool, settings, seed=0)
    with pytest.raises(GameRuleError, match="no data scientist is on offer yet"):
        rules.hire_data_scientist(state, settings)
    # Each engine: 3 running ticks then 60 down; the 4th failure is at tick 3 * 4 + 60 * 3.
    state = run(state, pool, settings, 3 * 4 + 60 * 3 - 1)
    assert state.player.failures == 3
    assert not state.progress.preventative_unlocked
    state = step(state, pool, settings)
    assert state.player.failures == 4
    assert rules.unlocked(state.progress) == ["corrective", "preventative"]
    assert state.events[-1].kind == "unlock"
    # Not on the unlock's tick: the data scientist comes at the factory's next engine stop.
    assert not rules.hire_offered(state.progress, state.player, settings)
    assert "offered at your next maintenance or failure" in state.events[-1].message
    with pytest.raises(GameRuleError, match="no data scientist is on offer yet"):
        rules.hire_data_scientist(state, settings)
    state = rules.set_strategy(state, "preventative", settings)
    assert state.player.strategy == "preventative"
    state = run(state, pool, settings, 3 + 60 - 1)  # the next engine fails again (cycle 3 < 193)
    assert state.player.failures == 4
    assert not rules.hire_offered(state.progress, state.player, settings)
    state = step(state, pool, settings)
    assert state.player.failures == 5
    assert rules.hire_offered(state.progress, state.player, settings)


def test_the_hire_offer_can_come_with_the_unlock():
    settings = unlock_settings(hire_offer_after_stops=0)
    pool = [engine(3)]
    state = run(new_game(pool, settings, seed=0), pool, settings, 3 * 4 + 60 * 3)
    assert state.progress.preventative_unlocked
    assert rules.hire_offered(state.progress, state.player, settings)
    assert "also available for hire" in state.events[-1].message


def test_hiring_the_data_scientist_unlocks_local_predictive():
    settings = unlock_settings(failures_to_unlock_preventative=0, hire_offer_after_stops=0)
    pool = [engine(300)]
    state = step(new_game(pool, settings, seed=0), pool, settings)
    assert rules.hire_offered(state.progress, state.player, settings)
    with pytest.raises(GameRuleError, match=r"'local' is locked.*hire a data scientist"):
        rules.set_strategy(state, "local", settings)
    state = rules.hire_data_scientist(state, settings)
    assert rules.unlocked(state.progress) == ["corrective", "preventative", "local"]
    assert not rules.hire_offered(state.progress, state.player, settings)
    with pytest.raises(GameRuleError, match="already hired"):
        rules.hire_data_scientist(state, settings)


def test_the_federation_offer_arrives_after_100_ticks_on_local_predictive():
    settings = unlock_settings(failures_to_unlock_preventative=0, hire_offer_after_stops=0)
    pool = [engine(1000)]  # never maintained or failed in this test: predictions stay high
    state = step(new_game(pool, settings, seed=0), pool, settings)
    state = rules.hire_data_scientist(state, settings)
    state = run(state, pool, settings, 10)  # on corrective: does not count
    state = rules.set_strategy(state, "local", settings)
    with pytest.raises(GameRuleError, match="100 ticks on local predictive \\(100 to go\\)"):
        rules.accept_federation(state, settings)
    state = run(state, pool, settings, 99)
    assert not rules.federation_offered(state.progress)
    with pytest.raises(GameRuleError, match="\\(1 to go\\)"):
        rules.accept_federation(state, settings)
    state = step(state, pool, settings)
    assert rules.federation_offered(state.progress)
    assert state.events[-1].kind == "offer"
    state = rules.accept_federation(state, settings)
    assert rules.unlocked(state.progress) == ["corrective", "preventative", "local", "federated"]
    assert not rules.federation_offered(state.progress)
    state = rules.set_strategy(state, "federated", settings)
    assert state.player.strategy == "federated"
    with pytest.raises(GameRuleError, match="already joined"):
        rules.accept_federation(state, settings)


def test_cycles_on_local_count_ticks_not_slot_cycles():
    settings = GameSettings(  # 4 slots
        n_competitors=0, failures_to_unlock_preventative=0, hire_offer_after_stops=0
    )
    pool = [engine(1000)]
    state = step(new_game(pool, settings, seed=0), pool, settings)
    state = rules.set_strategy(rules.hire_data_scientist(state, settings), "local", settings)
    state = run(state, pool, settings, 99)
    assert state.progress.cycles_on_local == 99
    assert not rules.federation_offered(state.progress)


def test_free_play_unlocks_everything_and_switching_it_off_goes_back():
    settings = unlock_settings()
    pool = [engine(50)]
    state = new_game(pool, settings, seed=0)
    state = rules.set_free_play(state, True, settings)
    assert rules.unlocked(state.progress) == ["corrective", "preventative", "local", "federated"]
    with pytest.raises(GameRuleError, match="free play is on"):
        rules.hire_data_scientist(state, settings)
    state = rules.set_strategy(state, "federated", settings)
    state = run(state, pool, settings, 150)
    assert state.progress.cycles_on_local == 0  # progress is earned outside free play only
    state = rules.set_free_play(state, False, settings)
    assert rules.unlocked(state.progress) == ["corrective"]
    assert state.player.strategy == "corrective"
    assert "Back to corrective" in state.events[-1].message


def test_a_new_game_can_start_in_free_play():
    state = new_game([engine(5)], GameSettings(), seed=0, free_play=True)
    assert rules.unlocked(state.progress) == ["corrective", "preventative", "local", "federated"]


# ---------------------------------------------------------------- competitors


def test_competitors_play_their_capped_strategies_and_never_progress():
    pool = noisy_pool(20)
    settings = GameSettings()
    state = run(new_game(pool, settings, seed=3), pool, settings, 500)
    competitors = state.factories[1:]
    assert [f.strategy for f in competitors] == ["corrective", "preventative", "local"]
    for f in competitors:
        assert not f.is_player
        assert f.allowed == ("corrective", "preventative", "local")
        assert "federated" not in f.allowed


def test_competitors_cannot_be_set_above_their_cap():
    with pytest.raises(ValidationError, match="above the competitor cap"):
        GameSettings(competitor_strategies=["federated", "local", "local"])
    with pytest.raises(ValidationError, match="n_competitors is 3 but only 2"):
        GameSettings(competitor_names=["A", "B"])
    with pytest.raises(ValidationError, match="distinct"):
        GameSettings(competitor_names=["A", "A", "B"])


def test_fewer_competitors():
    state = new_game([engine(5)], GameSettings(n_competitors=1), seed=0)
    assert [f.name for f in state.factories] == ["Your factory", "Rustbelt Rotors"]


# ---------------------------------------------------------------- draws and determinism


def engine_sequences(state: GameState, pool, settings, n_ticks: int) -> list[list[list[int]]]:
    """For each factory and slot, the engines it was dealt, in order."""
    seqs = [[[s.engine] for s in f.slots] for f in state.factories]
    for _ in range(n_ticks):
        new = step(state, pool, settings)
        for fi, (old_f, new_f) in enumerate(zip(state.factories, new.factories, strict=True)):
            for si, (old_s, new_s) in enumerate(zip(old_f.slots, new_f.slots, strict=True)):
                if new_s.draws != old_s.draws:
                    seqs[fi][si].append(new_s.engine)
        state = new
    return seqs


def test_fair_draws_deal_every_factory_the_same_engines_per_slot():
    pool = noisy_pool(30)
    settings = GameSettings()
    seqs = engine_sequences(new_game(pool, settings, seed=5), pool, settings, 1500)
    for slot in range(settings.n_slots):
        shortest = min(len(f[slot]) for f in seqs)
        assert shortest >= 4
        prefixes = {tuple(f[slot][:shortest]) for f in seqs}
        assert len(prefixes) == 1
    assert seqs[0][0] != seqs[0][1]  # slots differ from each other


def test_independent_draws_deal_factories_different_engines():
    pool = noisy_pool(30)
    settings = GameSettings(fair_draws=False)
    seqs = engine_sequences(new_game(pool, settings, seed=5), pool, settings, 1500)
    firsts = {tuple(f[0][:4]) for f in seqs}
    assert len(firsts) == len(seqs)


def test_a_seed_gives_identical_games_and_another_seed_a_different_one():
    pool = noisy_pool(30)
    settings = GameSettings()
    a = run(new_game(pool, settings, seed=11), pool, settings, 800)
    b = run(new_game(pool, settings, seed=11), pool, settings, 800)
    c = run(new_game(pool, settings, seed=12), pool, settings, 800)
    assert a == b
    assert a != c


def test_step_leaves_its_input_state_untouched():
    pool = noisy_pool(10)
    settings = GameSettings()
    state = run(new_game(pool, settings, seed=1), pool, settings, 50)
    copy = replace(state)
    assert step(state, pool, settings) == step(state, pool, settings)
    assert state == copy and state.tick == 50


def test_events_keep_only_the_most_recent():
    pool = [engine(3)]
    settings = GameSettings(recent_events=5)
    state = run(new_game(pool, settings, seed=0), pool, settings, 300)
    assert len(state.events) == 5
    assert [e.tick for e in state.events] == sorted(e.tick for e in state.events)


@pytest.mark.parametrize("seed", range(6))
def test_profit_is_always_revenue_minus_costs(seed):
    """Random figures, random pools, random strategy switches: the identity holds at every tick."""
    rng = np.random.default_rng(seed)
    settings = GameSettings(
        revenue_per_cycle=float(rng.integers(1, 1000)),
        maintenance_cost=float(rng.integers(0, 50_000)),
        maintenance_downtime=int(rng.integers(0, 30)),
        failure_cost=float(rng.integers(0, 100_000)),
        failure_downtime=int(rng.integers(0, 90)),
        preventative_cycle=int(rng.integers(1, 300)),
        rul_threshold=float(rng.integers(0, 40)),
        n_slots=int(rng.integers(1, 6)),
        fair_draws=bool(rng.integers(0, 2)),
    )
    pool = noisy_pool(int(rng.integers(1, 25)), seed=seed)
    state = new_game(pool, settings, seed=seed, free_play=True)
    for _ in range(1500):
        if rng.random() < 0.01:
            strategy = str(rng.choice(["corrective", "preventative", "local", "federated"]))
            state = rules.set_strategy(state, strategy, settings)
        state = step(state, pool, settings)
        assert profit_identity_holds(state, settings)
    assert sum(f.failures + f.maintenances for f in state.factories) > 0


# ---------------------------------------------------------------- the long run


def results_by_policy(pool, n_ticks: int, seed: int = 0) -> dict:
    results = compare_policies(pool, GameSettings(), seed=seed, n_ticks=n_ticks)
    return {r.policy: r for r in results}


def test_on_crafted_engines_better_predictions_earn_more():
    """Sanity check of the comparison itself on engines whose model errors we set."""
    results = results_by_policy(noisy_pool(80, seed=2), n_ticks=10_000)
    order = ("corrective", "preventative", "local", "federated", "oracle")
    profits = [results[p].profit for p in order]
    assert profits == sorted(profits)
    assert len(set(profits)) == 5
    assert results["oracle"].percent_of_oracle == 100.0


def test_on_the_held_out_engines_federated_beats_the_factories_local_models(game_models):
    """The game's claim, on the real held-out engines and the real models from the engine: over
    every factory's own local model, federated earns more than the typical factory alone."""
    result = compare_seed(list(game_models.traces), GameSettings(), seed=0, n_ticks=10_000)
    p = result.percent_of_oracle
    local = np.asarray(result.local_by_factory)
    report = (
        f"corrective {p['corrective']:.1f}%, preventative {p['preventative']:.1f}%, local median "
        f"{np.median(local):.1f}% (10th-90th {np.percentile(local, 10):.1f}-"
        f"{np.percentile(local, 90):.1f}%), federated {p['federated']:.1f}%, centralized "
        f"{p['centralized']:.1f}%"
    )
    print(f"\nprofit as a percentage of the oracle's: {report}")
    assert len(local) == 80
    # Only orderings the README's table shows on every seed: preventative against the local
    # median goes either way (seeds 1 and 3 have preventative ahead), so it is not asserted.
    assert p["corrective"] < min(p["preventative"], np.median(local)), report
    assert max(p["preventative"], np.median(local)) < p["federated"] < 100, report
    assert p["federated"] - np.median(local) > 35, report  # +43.8 on seed 0, +46.1 over 5 seeds
    assert np.mean(local < p["federated"]) >= 0.8, report
    # The target, where decisions are made: federated late-life RMSE below that of at
    # least 90% of the factories' own local models.
    lates = [f["late_life_rmse"] for f in game_models.metrics["factories"]]
    assert np.mean(np.asarray(lates) > game_models.metrics["federated_late_life_rmse"]) >= 0.9


def test_the_oracle_maintains_on_the_last_cycle_not_before():
    """The yardstick itself: one 50-cycle engine, maintained after cycle 50, never cycle 49."""
    pool = [engine(50)]
    settings = GameSettings(n_slots=1, n_competitors=0)
    (before,) = compare_policies(pool, settings, n_ticks=49, policies=("oracle",))
    assert (before.maintenances, before.failures, before.active_cycles) == (0, 0, 49)
    (after,) = compare_policies(pool, settings, n_ticks=50, policies=("oracle",))
    assert (after.maintenances, after.failures, after.active_cycles) == (1, 0, 50)
    assert after.profit == 50 * 250.0 - 10_000.0
    # Over many engines it never fails and runs every engine to its last cycle.
    (long,) = compare_policies(pool, settings, n_ticks=50 + 20 + 50, policies=("oracle",))
    assert (long.maintenances, long.failures, long.active_cycles) == (2, 0, 100)


def test_competitors_can_never_be_set_to_federated():
    with pytest.raises(ValidationError, match="competitor_cap may not include 'federated'"):
        GameSettings(competitor_cap=["corrective", "preventative", "local", "federated"])
    with pytest.raises(ValidationError, match="'federated' is above the competitor cap"):
        GameSettings(competitor_strategies=["corrective", "preventative", "federated"])


def test_texts_follow_the_settings():
    """No figure in the rules' texts is typed by hand: they change with the settings."""
    settings = GameSettings(
        n_competitors=1, federation_offer_after_cycles=37, failures_to_unlock_preventative=6
    )
    text = " ".join(rules.unlock_rules(settings))
    assert "37 ticks on local predictive" in text
    assert "after 6 failures" in text
    assert "The 1 competitor factory is capped" in text
    assert "competitor" not in " ".join(rules.unlock_rules(GameSettings(n_competitors=0)))


def _engine_with_nodes(n_cycles: int, n_nodes: int, early_node: int) -> EngineTrace:
    """Every node's local model is exact, except `early_node`'s, which says RUL 0 from cycle 10."""
    true_rul = np.arange(n_cycles - 1, -1, -1, dtype=float)
    local = np.repeat(true_rul[None, :], n_nodes, axis=0)
    local[early_node, 9:] = 0.0
    return EngineTrace(
        engine_id="nodes",
        sensors=np.zeros((n_cycles, 16)),
        local_rul=local,
        federated_rul=true_rul,
    )


def test_every_factory_is_its_own_node_chosen_by_the_seed():
    settings = GameSettings()
    pool = [_engine_with_nodes(200, 80, early_node=0)]
    players = set()
    for seed in range(20):
        game = new_game(pool, settings, seed=seed)
        nodes = [f.node for f in game.factories]
        assert len(set(nodes)) == len(nodes)  # the player and Solo Sensors never share a model
        assert all(0 <= n < 80 for n in nodes)
        assert nodes == [f.node for f in new_game(pool, settings, seed=seed).factories]
        players.add(game.player.node)
    assert len(players) >= 15  # the seed moves the player around the federation


def test_local_predictive_asks_the_factorys_own_model():
    settings = GameSettings(n_slots=1, n_competitors=0)
    game = new_game([_engine_with_nodes(200, 80, early_node=0)], settings, seed=4)
    node = game.player.node
    pool = [_engine_with_nodes(200, 80, early_node=node)]  # only this factory's model says "now"
    state = run(with_strategy(new_game(pool, settings, seed=4), "local"), pool, settings, 10)
    assert (state.player.maintenances, state.player.active_cycles) == (1, 10)
    other = [_engine_with_nodes(200, 80, early_node=(node + 1) % 80)]
    state = run(with_strategy(new_game(other, settings, seed=4), "local"), other, settings, 10)
    assert state.player.maintenances == 0


def test_one_engine_never_runs_in_two_slots_of_a_factory_at_once(game_models):
    pool = list(game_models.traces)
    settings = GameSettings()
    state = new_game(pool, settings, seed=3)
    for _ in range(3000):
        for factory in state.factories:
            engines = [s.engine for s in factory.slots]
            assert len(set(engines)) == len(engines), (state.tick, factory.name, engines)
            for s in factory.slots:  # each slot deals from its own share of the pool
                assert s.engine % settings.n_slots == s.index
        state = step(state, pool, settings)
    shares = [slot_engines(i, len(pool), settings.n_slots) for i in range(settings.n_slots)]
    assert sorted(e for share in shares for e in share) == list(range(len(pool)))


def _play_to_federated(pool, settings, seed=0):
    state = rules.set_free_play(new_game(pool, settings, seed=seed), True, settings)
    state = rules.set_strategy(state, "local", settings)
    state = run(state, pool, settings, 300)
    return rules.set_strategy(state, "federated", settings)


def test_the_ghost_is_the_player_had_it_stayed_local(game_models):
    """The ghost's profit equals a separate run of the player's factory on local predictive."""
    pool = list(game_models.traces)
    settings = GameSettings()
    joined = _play_to_federated(pool, settings)
    assert joined.ghost is not None and joined.ghost.since_tick == 300
    assert joined.ghost.factory.profit == joined.player.profit
    state = run(joined, pool, settings, 2000)
    # Independently: the player's factory as it stood at joining, stepped on local alone.
    alone = replace(joined.player, strategy="local")
    for tick in range(301, 2301):
        alone = advance_factory(alone, tick, pool, settings, joined.seed, joined.fair_draws)[0]
    assert state.ghost.factory.profit == alone.profit
    assert state.ghost.factory.failures == alone.failures
    assert state.ghost.factory.node == state.player.node
    # Switching away and back keeps the first ghost.
    later = rules.set_strategy(rules.set_strategy(state, "local", settings), "federated", settings)
    assert later.ghost.since_tick == 300


def test_the_first_factory_to_the_goal_wins_the_season():
    pool = noisy_pool(40, seed=3)
    settings = GameSettings(season_goal=400_000)
    state = new_game(pool, settings, seed=0)
    while state.season.winner is None:
        previous = state
        state = step(state, pool, settings)
        assert state.tick < 20_000
    best = max(state.factories, key=lambda f: f.profit)
    assert best.profit >= 400_000 > max(f.profit for f in previous.factories)
    assert (state.season.winner, state.season.finished_tick) == (best.name, state.tick)
    assert state.events[-1].kind == "season"
    # Play goes on and the season's result stays.
    later = run(state, pool, settings, 50)
    assert (later.season.winner, later.season.finished_tick) == (best.name, state.tick)

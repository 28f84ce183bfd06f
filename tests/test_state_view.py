"""The state as frames send it: plain dictionaries in `GameStateView`'s shape, with its rules."""

from __future__ import annotations

from crafted_engines import engine, noisy_pool

from app.game import progress
from app.game.history import ProfitHistory
from app.game.settings import GameSettings
from app.game.simulation import new_game, run
from app.game.state import FactoryState, SlotState
from app.web.schemas import GameStateView
from app.web.state_view import StateViewBuilder


def test_views_validate_as_game_state_views_and_show_the_player_s_readings_only() -> None:
    pool = noisy_pool()
    settings = GameSettings()
    state = progress.set_free_play(new_game(pool, settings, seed=3), True, settings)
    state = progress.set_strategy(state, "federated", settings)
    builder = StateViewBuilder(pool)
    for _ in range(40):
        state = run(state, pool, settings, 7)
        view = builder.build(state, running=True, ticks_per_second=50.0)
        assert GameStateView.model_validate(view).model_dump() == view  # exactly the schema
        player, *others = view["factories"]
        assert view["ghost"] is not None and view["ghost"]["since_tick"] == 0
        for factory, slots in zip(state.factories, view["factories"], strict=True):
            assert [s["cycle"] for s in slots["slots"]] == [s.cycle for s in factory.slots]
        for slot, live in zip(player["slots"], state.player.slots, strict=True):
            trace = pool[live.engine]
            if live.cycle:
                assert slot["sensors"] == trace.sensors[live.cycle - 1].tolist()
                assert slot["federated_rul"] == round(float(trace.federated_rul[live.cycle - 1]), 2)
        for factory in others:
            assert all(s["sensors"] == [] and s["local_rul"] is None for s in factory["slots"])


def test_a_player_slot_shows_the_readings_and_predictions_of_its_current_cycle() -> None:
    pool = [engine(10, "E10", local_error=2.0, federated_error=-1.0)]
    state = new_game(pool, GameSettings(n_competitors=0), seed=0)
    player = state.player
    slots = (SlotState(index=0, engine=0, cycle=4), *player.slots[1:])
    factory = FactoryState(**{**player.__dict__, "slots": slots})
    state = state.__class__(**{**state.__dict__, "factories": (factory,)})
    view = StateViewBuilder(pool).build(state, running=False, ticks_per_second=0.0)
    slot = view["factories"][0]["slots"][0]
    assert (slot["index"], slot["engine_id"], slot["cycle"], slot["status"]) == (
        0,
        "E10",
        4,
        "running",
    )
    assert slot["sensors"] == [4.0] * 16  # crafted sensors hold the cycle number
    assert (slot["local_rul"], slot["federated_rul"]) == (6.0 + 2.0, 6.0 - 1.0)  # true RUL 10 - 4


def test_unchanged_parts_are_the_same_objects_so_a_diff_skips_them() -> None:
    pool = noisy_pool()
    settings = GameSettings()
    state = new_game(pool, settings, seed=1)
    builder = StateViewBuilder(pool)
    first = builder.build(state, running=True, ticks_per_second=2.0)
    second = builder.build(state, running=True, ticks_per_second=2.0)
    assert first == second and first is not second
    assert first["factories"][0]["slots"][0] is second["factories"][0]["slots"][0]
    assert first["events"] is second["events"]


def test_profit_history_keeps_one_point_per_tick_and_only_the_latest() -> None:
    pool = [engine(5)]
    settings = GameSettings(n_competitors=1)
    history = ProfitHistory(limit=3)
    state = new_game(pool, settings, seed=0)
    history.record(state)
    for _ in range(5):
        state = run(state, pool, settings, 1)
        history.record(state)
        history.record(state)  # a repeated tick is not a new point
    assert history.ticks == [3, 4, 5]
    assert history.profits["Your factory"] == [3000.0, 4000.0, 5 * 1000.0 - 4 * 60_000]
    assert [p.tick for p in history.since(3)] == [4, 5]
    assert [p.tick for p in history.since(None)] == [3, 4, 5]
    assert history.since(5) == [] and history.last_tick == 5
    assert [p.profit["Your factory"] for p in history.since(4)] == [5 * 1000.0 - 4 * 60_000]


def test_views_of_a_fast_game_equal_views_of_its_state() -> None:
    """The server builds views from the fast game's rows; they are the reference's views."""
    from app.game.decisions import DecisionTables
    from app.game.fast import FastGame

    pool = noisy_pool()
    settings = GameSettings()
    state = progress.set_free_play(new_game(pool, settings, seed=5), True, settings)
    state = progress.set_strategy(state, "federated", settings)
    game = FastGame.from_state(state, pool, settings, DecisionTables(pool, settings))
    fast, reference = StateViewBuilder(pool), StateViewBuilder(pool)
    for _ in range(300):
        for _ in range(3):
            game.step()
        view = fast.build_fast(game, running=True, ticks_per_second=50.0)
        assert view == reference.build(game.state(), running=True, ticks_per_second=50.0)

"""A session's reaction to the game: the season's end pauses it; resume keeps playing."""

from __future__ import annotations

from app.game import progress
from app.game.decisions import DecisionTables
from app.game.engines import GameModels
from app.game.settings import GameSettings
from app.web.schemas import Resume, SetStrategy, Step
from app.web.session import GameSession
from app.web.settings import Settings


def _session(game_models: GameModels, settings: Settings) -> GameSession:
    pool = game_models.traces
    return GameSession(settings, pool, DecisionTables(pool, settings.game))


def test_the_seasons_end_pauses_the_session_and_resume_keeps_playing(
    game_models: GameModels,
) -> None:
    session = _session(game_models, Settings(game=GameSettings(season_goal=60_000)))
    session.advance(5_000)
    view = session.view()
    assert view["season"]["winner"] is not None and view["tick"] < 5_000
    assert not session.running and not view["running"]
    assert session.tick_interval is None
    assert view["season"]["finished_tick"] == view["tick"]
    assert session.advance(10) == 0  # paused: nothing plays
    session.handle(Step(type="step"))  # a step plays one tick and stays paused
    assert session.tick == view["tick"] + 1 and not session.running
    session.handle(Resume(type="resume"))
    assert session.running
    assert session.advance(3) == 3
    assert session.view()["season"]["winner"] == view["season"]["winner"] and session.running


def test_frames_carry_the_ghost_once_the_player_chooses_federated(
    game_models: GameModels,
) -> None:
    settings = Settings()
    session = _session(game_models, settings)
    session.advance(1)
    assert session.view()["ghost"] is None
    session.handle(SetStrategy(type="set_strategy", strategy="corrective"))
    state = progress.set_free_play(session.state, True, settings.game)
    session = GameSession.restore(
        settings, session.pool, session.tables, {**session.saved(), "state": _dict(state)}, []
    )
    session.handle(SetStrategy(type="set_strategy", strategy="federated"))
    session.advance(400)
    view = session.view()
    ghost = view["ghost"]
    assert ghost is not None and ghost["since_tick"] == 1
    player = view["factories"][0]
    assert ghost["node"] == player["node"]
    assert ghost["federated_gain"] == player["profit"] - ghost["profit"]
    points = session.history.since(None)
    assert points[-1].ghost == ghost["profit"]
    assert points[0].ghost is None and points[0].tick == 1  # restored: history from the save


def _dict(state: object) -> dict:
    from app.game.codec import state_to_dict

    return state_to_dict(state)  # type: ignore[arg-type]


def test_a_lab_deployment_lasts_until_new_game_or_going_back_and_is_named_in_the_save(
    game_models: GameModels,
) -> None:
    import dataclasses

    import pytest

    from app.game.progress import GameRuleError
    from app.web.deployments import Deployment, KeptDeployments
    from app.web.schemas import Reset, UseDefaultModel

    settings = Settings()
    session = _session(game_models, settings)
    pool = [dataclasses.replace(t, federated_rul=t.federated_rul + 7.0) for t in session.pool]
    view = {"label": "lab model: 1 round, 8 nodes, fedavg", "kept": "..."}
    lab = Deployment(pool, DecisionTables(pool, settings.game), view)
    session.deploy(lab)
    sent = session.view()
    assert sent["federated_model"] == view["label"] and sent["lab_model"] is view
    assert session.saved()["lab_model"] == view["label"]  # named, never saved
    session.advance(1)
    assert "lab_model" not in session.patch(sent, session.view())  # unchanged: not sent again
    session.handle(UseDefaultModel(type="use_default_model"))
    assert session.pool is session.default_pool and session.deployment is None
    assert session.patch(sent, session.view())["lab_model"] is None
    assert "lab_model" not in session.saved()
    with pytest.raises(GameRuleError, match="already decides"):
        session.handle(UseDefaultModel(type="use_default_model"))
    session.deploy(lab)
    assert session.view()["lab_model"] is view
    session.handle(Reset(type="reset"))  # New game: the default model again
    assert session.deployment is None and session.view()["federated_model"] == "default"
    kept = KeptDeployments(limit=2)  # the registry's, for games nobody watches
    for name in "abc":
        kept.keep(name * 16, lab)
    assert kept.get("a" * 16) is None and kept.take("c" * 16) is lab and len(kept) == 1

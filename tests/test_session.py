"""A session's reaction to the game: the season's end pauses it; resume keeps playing."""

from __future__ import annotations

from app.game import progress
from app.game.engines import GameModels
from app.game.settings import GameSettings
from app.web.schemas import Resume, SetStrategy
from app.web.session import GameSession
from app.web.settings import Settings
from app.web.views import game_config, model_metrics


def test_the_seasons_end_pauses_the_session_and_resume_keeps_playing(
    game_models: GameModels,
) -> None:
    settings = Settings(game=GameSettings(season_goal=60_000))
    config = game_config(settings, game_models.feature_names)
    session = GameSession(settings, game_models.traces, config, model_metrics(game_models.metrics))
    frame = session.tick()
    while frame.state.season.winner is None:
        assert session.running
        frame = session.tick()
        assert frame.state.tick < 5_000
    assert not session.running and not frame.state.running
    assert session.tick_interval is None
    assert frame.state.season.finished_tick == frame.state.tick
    session.handle(Resume(type="resume"))
    assert session.running
    frame = session.tick()
    assert frame.state.season.winner is not None and session.running


def test_frames_carry_the_ghost_once_the_player_chooses_federated(
    game_models: GameModels,
) -> None:
    settings = Settings()
    config = game_config(settings, game_models.feature_names)
    session = GameSession(settings, game_models.traces, config, model_metrics(game_models.metrics))
    assert session.tick().state.ghost is None
    session.state = progress.set_free_play(session.state, True, settings.game)
    session.handle(SetStrategy(type="set_strategy", strategy="federated"))
    for _ in range(400):
        frame = session.tick()
    ghost = frame.state.ghost
    assert ghost is not None and ghost.since_tick == 1
    player = frame.state.factories[0]
    assert ghost.node == player.node
    assert ghost.federated_gain == player.profit - ghost.profit
    assert frame.history_point.ghost == ghost.profit
    snapshot = session.snapshot()
    assert snapshot.history.ghost[0] is None and snapshot.history.ghost[-1] == ghost.profit
    assert len(snapshot.history.ghost) == len(snapshot.history.tick)

"""The HTTP and websocket routes. Domain logic lives elsewhere: routes only wire it to the web.

`create_app` takes already-loaded models so tests and the CLI decide how they are obtained;
`serve` is what `tycoon serve` runs: load (or train and cache) the models, then run uvicorn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import uvicorn
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel

from app.connection import Connection
from app.schemas import GameConfig, ModelMetrics, StrategyView
from app.session import GameSession
from app.settings import Settings
from app.traces import EngineTrace
from app.views import game_config, model_metrics, strategy_views

# Larger websocket frames are refused by uvicorn itself (connection closed). Messages between the
# app's limit (`Settings.max_message_bytes`) and this one get a friendly error frame instead.
_WS_HARD_LIMIT_BYTES = 1 << 20


class GameModels(Protocol):
    """What the server needs from the engine (`app.traces.load_game_models` provides it)."""

    @property
    def traces(self) -> Sequence[EngineTrace]: ...

    @property
    def feature_names(self) -> Sequence[str]: ...

    @property
    def metrics(self) -> Mapping[str, Any]: ...


class Health(BaseModel):
    """GET /api/health: the server is up and has engines to play."""

    status: str
    engines: int


def _check_models(game_models: GameModels) -> None:
    """Refuse to start with models a game cannot use, saying what is wrong."""
    if not game_models.traces:
        raise ValueError("the game models hold no engine traces: nothing to play")
    width = len(game_models.feature_names)
    for trace in game_models.traces:
        if trace.sensors.ndim != 2 or trace.sensors.shape[1] != width:
            raise ValueError(
                f"engine {trace.engine_id} has sensors of shape {trace.sensors.shape}, "
                f"expected [cycles, {width}] to match the {width} feature names"
            )
        if len(trace.local_rul) != trace.n_cycles or len(trace.federated_rul) != trace.n_cycles:
            raise ValueError(f"engine {trace.engine_id} has predictions of the wrong length")


def create_app(settings: Settings, game_models: GameModels) -> FastAPI:
    """The FastAPI app: dashboard page, static files, JSON API and the game websocket."""
    _check_models(game_models)
    pool = list(game_models.traces)
    config = game_config(settings, game_models.feature_names)
    models = model_metrics(game_models.metrics)
    strategies = strategy_views(settings)
    templates = Jinja2Templates(directory=str(settings.templates_dir))

    app = FastAPI(
        title="Turbofan Tycoon",
        description="A federated-learning game on NASA C-MAPSS turbofan data.",
    )
    app.mount("/static", StaticFiles(directory=settings.static_dir), name="static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "index.html", {"config": config})

    @app.get("/api/health")
    async def health() -> Health:
        return Health(status="ok", engines=len(pool))

    @app.get("/api/config")
    async def get_config() -> GameConfig:
        return config

    @app.get("/api/strategies")
    async def get_strategies() -> list[StrategyView]:
        return strategies

    @app.get("/api/models")
    async def get_models() -> ModelMetrics:
        return models

    @app.websocket("/ws/game")
    async def game(websocket: WebSocket) -> None:
        await websocket.accept()
        session = GameSession(settings, pool, config, models)
        await Connection(websocket, session, settings.max_message_bytes).run()

    return app


def uvicorn_config(app: FastAPI, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration `serve` uses (tests run the same one on a free port)."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "ws_max_size": _WS_HARD_LIMIT_BYTES,
        "log_level": "info",
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)


def serve(settings: Settings) -> None:
    """Load the models (training and caching them if needed) and serve until interrupted."""
    from app.traces import load_game_models  # the engine's side; heavy imports only when serving

    game_models = load_game_models(settings)
    uvicorn.Server(uvicorn_config(create_app(settings, game_models), settings)).run()

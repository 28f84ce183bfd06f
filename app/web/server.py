"""The HTTP and websocket routes. Domain logic lives elsewhere: routes only wire it to the web.

`create_app` takes already-loaded models so tests and the CLI decide how they are obtained;
`serve` is what `tycoon serve` runs: take the port, check the save file, load (or train and cache)
the models, then run uvicorn on the port it already holds. Every route sits behind the Host and
Origin check of `app.web.origin`.
"""

from __future__ import annotations

import asyncio
import gc
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, WebSocket
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel
from starlette.middleware.gzip import GZipMiddleware

from app.game.decisions import DecisionTables
from app.game.engines import GameModels
from app.web.compare import run_compare
from app.web.compare_published import published_router
from app.web.connection import Connection
from app.web.frames import error_frame
from app.web.http_guard import connection_cap, guarded_h11
from app.web.lab import LabConnection
from app.web.lab_runs import LabBackend, LabServer
from app.web.lab_runtimes import LabInfo, lab_info
from app.web.origin import OriginGuard, OriginPolicy
from app.web.registry import GameRegistry, ServerFull
from app.web.schemas import GameConfig, ModelMetrics, StrategyView
from app.web.security_headers import (
    SecurityHeaders,
    content_security_policy,
    inline_script_hashes,
)
from app.web.server_logs import log_config, websocket_protocol
from app.web.settings import Settings
from app.web.store import AsyncGameStore, GameStore, hold_save_file, release_save_file
from app.web.views import game_config, model_metrics, models_of, strategy_views

# Larger websocket frames are refused by uvicorn itself (connection closed). Messages between the
# app's limit (`Settings.max_message_bytes`) and this one get a friendly error frame instead.
_WS_HARD_LIMIT_BYTES = 1 << 20
# Swagger UI's assets, vendored from npm's swagger-ui-dist so /docs works offline.
_SWAGGER = "/static/vendor/swagger-ui"
# Websocket close code "try again later" (RFC 6455 registry), for a full server.
_TRY_AGAIN_LATER = 1013
# Seconds uvicorn gives open connections to finish when the server is asked to stop.
_GRACEFUL_SHUTDOWN_S = 1
# Responses from this size on are gzipped, at zlib's default level: Starlette's 9 took 127 ms
# instead of 84 on the 1.7 MB Swagger bundle for 0.4% fewer bytes (measured; 460 KB either way).
_GZIP_MIN_BYTES = 1000
_GZIP_LEVEL = 6


class Health(BaseModel):
    """GET /api/health: the server is up, has engines to play, and how many games it holds."""

    status: str
    engines: int
    games: int
    ticking: int


class PortBusyError(OSError):
    """The address the server should listen on is taken (or not ours to take)."""


async def _refuse(websocket: WebSocket, message: str) -> None:
    await websocket.send_text(error_frame(message).decode())
    await websocket.close(_TRY_AGAIN_LATER, "server full")


def create_app(settings: Settings, game_models: GameModels, *, save_games: bool = True) -> FastAPI:
    """The FastAPI app: dashboard page, static files, JSON API, API docs and the game websocket.

    Games are saved to `settings.database` unless `save_games` is False.
    """
    game_models.check()
    pool = list(game_models.traces)
    config = game_config(settings, game_models.feature_names)
    models = model_metrics(game_models.metrics)
    strategies = strategy_views(settings)
    templates = Jinja2Templates(directory=str(settings.templates_dir))
    tables = DecisionTables(pool, settings.game)
    registry = GameRegistry(settings, pool, tables, None)
    lab = LabServer(settings, registry, LabBackend(settings, pool))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if save_games:
            registry.store = await AsyncGameStore.open(settings.database)
        await registry.start()
        try:
            yield
        finally:
            await registry.shutdown()
            await asyncio.to_thread(lab.shutdown)

    app = FastAPI(
        title="Turbofan Tycoon",
        description="A federated-learning game on NASA C-MAPSS turbofan data.",
        docs_url=None,  # served below from vendored assets instead of a CDN
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.registry = registry
    app.state.lab = lab
    app.add_middleware(OriginGuard, policy=OriginPolicy(settings.host, settings.allowed_origins))
    app.add_middleware(GZipMiddleware, minimum_size=_GZIP_MIN_BYTES, compresslevel=_GZIP_LEVEL)
    app.add_middleware(SecurityHeaders)  # outermost: refusals and errors get the headers too
    app.mount("/static", StaticFiles(directory=settings.static_dir), name="static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "index.html", {"config": config})

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    async def docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="Turbofan Tycoon API",
            swagger_js_url=f"{_SWAGGER}/swagger-ui-bundle.js",
            swagger_css_url=f"{_SWAGGER}/swagger-ui.css",
            swagger_favicon_url=f"{_SWAGGER}/favicon-32x32.png",
        )
        # Swagger UI starts from one inline script: the policy allows that script, by its hash.
        hashes = inline_script_hashes(bytes(page.body).decode())
        page.headers["Content-Security-Policy"] = content_security_policy(hashes)
        return page

    @app.get("/api/health")
    async def health() -> Health:
        ticking = sum(game.ticking for game in registry.games.values())
        return Health(status="ok", engines=len(pool), games=len(registry.games), ticking=ticking)

    @app.get("/api/config")
    async def get_config() -> GameConfig:
        return config

    @app.get("/api/strategies")
    async def get_strategies() -> list[StrategyView]:
        return strategies

    @app.get("/api/models")
    async def get_models(session: str | None = None) -> ModelMetrics:
        return models_of(models, registry.deployment(session) if session else None)

    @app.get("/compare", response_class=HTMLResponse, include_in_schema=False)
    async def compare_page(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(
            request,
            "compare.html",
            {"config": config, "model": game_models.model, "seed": settings.seed},
        )

    app.include_router(published_router())  # GET /api/compare/published

    @app.websocket("/ws/compare")
    async def compare(websocket: WebSocket) -> None:
        await websocket.accept()
        client = websocket.client.host if websocket.client else "unknown"
        try:
            registry.admit(client)  # compare sockets count against the per-address limit too
        except ServerFull as exc:
            await _refuse(websocket, str(exc))
            return
        try:
            await run_compare(
                websocket,
                pool,
                settings.game,
                game_models.model,
                settings.max_message_bytes,
                settings.max_json_depth,
            )
        finally:
            registry.release(client)

    @app.get("/lab", response_class=HTMLResponse, include_in_schema=False)
    async def lab_page(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "lab.html", {"model": game_models.model})

    @app.get("/api/lab")
    async def lab_status() -> LabInfo:
        return lab_info(lab.status())

    @app.websocket("/ws/lab")
    async def lab_socket(websocket: WebSocket) -> None:
        await websocket.accept()
        client = websocket.client.host if websocket.client else "unknown"
        try:
            registry.admit(client)  # lab sockets count against the per-address limit too
        except ServerFull as exc:
            await _refuse(websocket, str(exc))
            return
        try:
            await LabConnection(websocket, lab).serve()
        finally:
            registry.release(client)

    @app.websocket("/ws/game")
    async def game(websocket: WebSocket, session: str | None = None) -> None:
        await websocket.accept()
        client = websocket.client.host if websocket.client else "unknown"
        connection = Connection(websocket, registry, config, models)
        try:
            registry.admit(client)
        except ServerFull as exc:
            await _refuse(websocket, str(exc))
            return
        try:
            try:
                joined = await registry.join(session, connection)
            except ServerFull as exc:
                await _refuse(websocket, str(exc))
                return
            try:
                await connection.run(joined)
            finally:
                await registry.leave(joined.game, connection)
        finally:
            registry.release(client)

    return app


def uvicorn_config(app: FastAPI, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration `serve` uses (tests run the same one on a free port).

    HTTP runs on `app.web.http_guard`'s h11 protocol (request-head deadline, connection cap);
    the logs go through `app.web.server_logs`'s filter, which keeps session ids out of them.
    """
    protocol = guarded_h11(settings.header_timeout_s, settings.max_connections)
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "ws_max_size": _WS_HARD_LIMIT_BYTES,
        # Frames are small deltas already; compressing each one cost more CPU than it saved.
        "ws_per_message_deflate": False,
        "ws": websocket_protocol(),
        # h11 bounds a request's headers (16 KiB): httptools let 8 endless headers take 500 MB.
        "http": protocol,
        "timeout_keep_alive": settings.keep_alive_s,
        "timeout_graceful_shutdown": _GRACEFUL_SHUTDOWN_S,
        "log_level": "info",
        "log_config": log_config(),
    }
    options.update(overrides)
    config = uvicorn.Config(app, **options)
    # Set once logging is configured (above), so a lowered cap is said in the server's log.
    protocol.max_connections = connection_cap(settings.max_connections)
    return config


def bind(host: str, port: int) -> socket.socket:
    """Take the listening address now, so a busy port is reported before any slow start-up."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortBusyError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); is another server "
            f"running there? Choose another port: tycoon serve --port 8010 (or make run PORT=8010)"
        ) from None
    sock.set_inheritable(True)
    return sock


def _settle_garbage_collector() -> None:
    """Keep the cyclic garbage collector off the frame path.

    Frames are short-lived dictionaries freed by reference counting; what the collector would
    scan again and again is the start-up heap (engines, predictions, torch). Freezing it and
    collecting young objects less often took the collector's pauses out of the frame gaps.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def serve(settings: Settings, load_models: Callable[[Settings], GameModels]) -> None:
    """Take the port, load the models (training and caching them if needed), serve until stopped."""
    sock = bind(settings.host, settings.port)
    try:
        GameStore.open(settings.database).close()  # a bad save file: one clear line, now
        hold_save_file(settings.database)  # one server per save file: held until this one stops
        app = create_app(settings, load_models(settings))
        _settle_garbage_collector()
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        print(f"Turbofan Tycoon: http://{host}:{settings.port} (Ctrl-C stops)", flush=True)
        uvicorn.Server(uvicorn_config(app, settings)).run(sockets=[sock])
    finally:
        release_save_file(settings.database)
        sock.close()

"""The Compare view's websocket: federated against every factory's local model, streamed.

A client asks once (`CompareRequest`); the server answers with one `CompareProgress` per draw
seed and then a `CompareResult`. The simulations run in a worker thread, so games on the same
server keep ticking while a comparison runs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.game.compare import SeedComparison, compare_seed, summarize
from app.game.engines import EngineTrace
from app.game.settings import GameSettings

MAX_SEEDS = 20


class CompareRequest(BaseModel):
    """What to compare: draw seeds (common to every policy) and ticks per seed."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["compare"]
    seeds: list[int] = Field(
        default=[0, 1, 2, 3, 4], min_length=1, max_length=MAX_SEEDS, description="Draw seeds."
    )
    ticks: int = Field(default=5000, ge=500, le=100_000)


class CompareProgress(BaseModel):
    type: Literal["progress"] = "progress"
    done: int
    total: int
    seed: int


class SeedResult(BaseModel):
    seed: int
    percent_of_oracle: dict[str, float]
    local_by_factory: list[float] = Field(description="Each factory's local model, by node.")
    failures: dict[str, float] = Field(
        description="Engines each policy let fail: corrective, preventative, centralized, "
        "federated, local_median (the median factory's count)."
    )


class Difference(BaseModel):
    mean: float
    ci95: tuple[float, float]


class CompareResult(BaseModel):
    """Profit as % of the oracle per policy and per factory's local model, and the paired gap."""

    type: Literal["result"] = "result"
    model: str = Field(description="The model family the predictions come from.")
    ticks: int
    decision: str = Field(description="calibrated (prediction - margin < threshold) or raw.")
    seeds: list[SeedResult]
    federated_minus_local: Difference = Field(
        description="Federated minus each factory's local, in points of the oracle's profit, "
        "paired within seeds; 95% bootstrap interval over seeds and factories."
    )
    share_federated_beats_local: float


class CompareError(BaseModel):
    type: Literal["error"] = "error"
    message: str


def result_of(
    model: str, ticks: int, seeds: Sequence[SeedComparison], decision: str
) -> CompareResult:
    summary = summarize(seeds)
    return CompareResult(
        model=model,
        ticks=ticks,
        decision=decision,
        seeds=[
            SeedResult(
                seed=s.seed,
                percent_of_oracle=s.percent_of_oracle,
                local_by_factory=s.local_by_factory,
                failures=s.failures,
            )
            for s in seeds
        ],
        federated_minus_local=Difference(mean=summary.mean, ci95=summary.ci95),
        share_federated_beats_local=summary.share_federated_beats_local,
    )


def _request(text: str | None, max_bytes: int) -> CompareRequest:
    if text is None:
        raise ValueError("send the request as JSON text")
    if len(text.encode()) > max_bytes:
        raise ValueError(f"message too large (the limit is {max_bytes} bytes)")
    try:
        return CompareRequest.model_validate(json.loads(text))
    except (json.JSONDecodeError, RecursionError):
        raise ValueError("invalid JSON") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "request"
        raise ValueError(f"invalid compare request: {where}: {first['msg']}") from None


async def run_compare(
    websocket: WebSocket,
    pool: Sequence[EngineTrace],
    settings: GameSettings,
    model: str,
    max_bytes: int,
) -> None:
    """Answer compare requests on one websocket until the client leaves."""
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            try:
                request = _request(message.get("text"), max_bytes)
            except ValueError as exc:
                await websocket.send_text(CompareError(message=str(exc)).model_dump_json())
                continue
            results: list[SeedComparison] = []
            for done, seed in enumerate(request.seeds, start=1):
                results.append(
                    await asyncio.to_thread(compare_seed, pool, settings, seed, request.ticks)
                )
                progress = CompareProgress(done=done, total=len(request.seeds), seed=seed)
                await websocket.send_text(progress.model_dump_json())
            result = result_of(model, request.ticks, results, settings.decision)
            await websocket.send_text(result.model_dump_json())
    except WebSocketDisconnect:
        return

"""The Compare view's websocket: federated against every factory's local model, streamed.

A client asks once (`CompareRequest`); the server answers with one `CompareProgress` per draw
seed and then a `CompareResult`. The simulations run in a worker thread, so games on the same
server keep ticking while a comparison runs. A request is checked strictly (issue 20): whole
numbers are ints (not `true`, not "5"), seeds are 0 to 2**32 - 1 (a negative one used to crash
the simulation), nesting past `Settings.max_json_depth` is refused; each error names its field.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.game.compare import SeedComparison, compare_seed, summarize
from app.game.engines import EngineTrace
from app.game.settings import GameSettings
from app.web.nesting import too_deep
from app.web.settings import Settings

MAX_SEEDS = 20
MAX_SEED = 2**32 - 1  # as the game's own seeds (a `reset` command's)
MIN_TICKS, MAX_TICKS = 500, 100_000
# What each field must be, in words (pydantic's wording names its constraints, not the rule).
RULES = {
    "type": "type must be 'compare'",
    "seeds": f"seeds must be a list of 1 to {MAX_SEEDS} whole numbers from 0 to {MAX_SEED}",
    "ticks": f"ticks must be a whole number from {MIN_TICKS} to {MAX_TICKS}",
}
_log = logging.getLogger("tycoon.compare")


class CompareRequest(BaseModel):
    """What to compare: draw seeds (common to every policy) and ticks per seed."""

    model_config = ConfigDict(extra="forbid", strict=True)

    type: Literal["compare"]
    seeds: list[Annotated[int, Field(ge=0, le=MAX_SEED)]] = Field(
        default=[0, 1, 2, 3, 4], min_length=1, max_length=MAX_SEEDS, description="Draw seeds."
    )
    ticks: int = Field(default=5000, ge=MIN_TICKS, le=MAX_TICKS)


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
    field: str | None = Field(default=None, description="The wrong field, when one is.")


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


class RequestError(ValueError):
    """A message that is not a valid compare request; `field` names the culprit if known."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _request(text: str | None, max_bytes: int, max_depth: int) -> CompareRequest:
    if text is None:
        raise RequestError("send the request as JSON text")
    if len(text.encode()) > max_bytes:
        raise RequestError(f"message too large (the limit is {max_bytes} bytes)")
    try:
        data = orjson.loads(text)  # refuses nesting past 1024 levels without recursing
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"invalid JSON: {exc.msg}") from None
    if too_deep(data, max_depth):
        raise RequestError(
            f"the request nests objects or lists more than {max_depth} levels deep; a compare "
            "request needs 2 at most"
        )
    if not isinstance(data, dict):
        raise RequestError(
            f'a compare request is a JSON object such as {{"type": "compare", "seeds": [0, 1], '
            f'"ticks": 5000}}, got {_shown(data)}'
        )
    try:
        return CompareRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else None
        if first["type"] in ("extra_forbidden", "missing"):
            what = "unknown" if first["type"] == "extra_forbidden" else "missing"
            raise RequestError(f"invalid compare request: {what} field {field!r}", field) from None
        where = ".".join(str(p) for p in first["loc"]) or "request"
        rule = RULES.get(field or "", f"{where}: {first['msg']}")
        got = _shown(first.get("input"))
        raise RequestError(
            f"invalid compare request: {rule}; got {got} at {where}", field
        ) from None


def _shown(value: Any, limit: int = 40) -> str:
    """A value the client sent, short; a container is named, never repr()'d."""
    if isinstance(value, dict | list):
        return "an object" if isinstance(value, dict) else "a list"
    text = "true" if value is True else "false" if value is False else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


async def run_compare(
    websocket: WebSocket,
    pool: Sequence[EngineTrace],
    settings: GameSettings,
    model: str,
    max_bytes: int,
    max_depth: int = Settings.model_fields["max_json_depth"].default,
) -> None:
    """Answer compare requests on one websocket until the client leaves (`max_depth`: the
    server's `Settings.max_json_depth`; its default until the server passes it)."""
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            try:
                request = _request(message.get("text"), max_bytes, max_depth)
            except RequestError as exc:
                error = CompareError(message=str(exc), field=exc.field)
                await websocket.send_text(error.model_dump_json())
                continue
            try:
                result = await _compare(websocket, request, pool, settings, model)
            except (asyncio.CancelledError, WebSocketDisconnect):
                raise
            except Exception as exc:  # never a closed socket: the error in words, the log's trace
                _log.exception("comparison failed")
                failed = CompareError(message=f"the comparison failed: {exc}")
                await websocket.send_text(failed.model_dump_json())
                continue
            await websocket.send_text(result.model_dump_json())
    except WebSocketDisconnect:
        return


async def _compare(
    websocket: WebSocket,
    request: CompareRequest,
    pool: Sequence[EngineTrace],
    settings: GameSettings,
    model: str,
) -> CompareResult:
    """Play every seed in a worker thread, one progress frame each; the paired result."""
    results: list[SeedComparison] = []
    for done, seed in enumerate(request.seeds, start=1):
        results.append(await asyncio.to_thread(compare_seed, pool, settings, seed, request.ticks))
        progress = CompareProgress(done=done, total=len(request.seeds), seed=seed)
        await websocket.send_text(progress.model_dump_json())
    return result_of(model, request.ticks, results, settings.decision)

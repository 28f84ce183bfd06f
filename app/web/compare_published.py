"""GET /api/compare/published: the answer the README and `tycoon compare` give, for the Compare view.

One question, two ways to ask it. The Compare view keeps the server's trained models (one
training seed) and varies the *draw seed*: which engines each factory draws, in what order.
`tycoon compare --seeds 0-4` and the published benchmark vary the *training seed*: every model is
retrained per seed (and each seed's draws are seeded alike), so their interval also covers the luck
of training. The page shows both; this route serves the second, read from the published benchmark
result (`bench/results/compare.json`, written by `python -m bench.run --only compare --publish`),
so no number is ever written into the page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field, ValidationError

from app.web.compare import Difference
from app.web.settings import ROOT

PUBLISHED = ROOT / "bench" / "results" / "compare.json"
# bench/compare.py trained window models only before it wrote the family into its result.
_BENCH_MODEL = "window"


class PublishedSummary(BaseModel):
    """Federated minus local under one decision, over the training seeds."""

    federated_minus_local: Difference
    share_federated_beats_local: float


class PublishedCompare(BaseModel):
    """The benchmark's answer over training seeds: models retrained for every seed."""

    source: str = Field(description="The file it was read from, relative to the repository.")
    date: str = Field(description="When the benchmark produced it (UTC, ISO 8601).")
    command: str = Field(description="The command that produced it.")
    model: str = Field(description="The model family trained for every seed.")
    ticks: int = Field(description="Ticks per seed.")
    training_seeds: list[int] = Field(
        description="The training seeds; each seed's draws are seeded with it too."
    )
    by_decision: dict[str, PublishedSummary] = Field(
        description="The answer per decision rule (calibrated, raw) on the same models."
    )


def read_published(path: Path = PUBLISHED) -> PublishedCompare:
    """The published result at `path`; ValueError (in words) when it is missing or malformed."""
    try:
        data: Any = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise ValueError(f"no published comparison at {_shown(path)}") from None
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{_shown(path)} is not JSON: {exc.msg}") from None
    try:
        by_decision = {data["decision"]: PublishedSummary.model_validate(data)}
        if isinstance(data.get("raw"), dict):
            by_decision["raw"] = PublishedSummary.model_validate(data["raw"])
        return PublishedCompare(
            source=_shown(path),
            date=data["produced"]["date"],
            command=data["produced"]["command"],
            model=data.get("model", _BENCH_MODEL),
            ticks=data["ticks"],
            training_seeds=[s["seed"] for s in data["seeds"]],
            by_decision=by_decision,
        )
    except (KeyError, TypeError, ValidationError) as exc:
        raise ValueError(f"{_shown(path)} is not a compare result: {exc}") from None


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def published_router(path: Path = PUBLISHED) -> APIRouter:
    """The route, reading `path` at each request (a republished result shows at once)."""
    router = APIRouter()

    @router.get(
        "/api/compare/published",
        responses={404: {"description": "No published comparison, or not a readable one."}},
    )
    def published_compare() -> PublishedCompare:
        """The README's and `tycoon compare`'s answer: federated minus local over training
        seeds (models retrained per seed), from the published benchmark result."""
        try:
            return read_published(path)
        except ValueError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None

    return router

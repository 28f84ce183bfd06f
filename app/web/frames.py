"""Server -> client frames as bytes: snapshots validated by pydantic, deltas built fast.

A snapshot is rare (connect, reset) and goes through `schemas.SnapshotFrame`, so it is validated
like any model. A delta is sent up to 20 times a second to every client, so it is assembled as a
plain dictionary in `schemas.DeltaFrame`'s shape and encoded with orjson; `tests/test_delta.py`
validates delta frames against the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import orjson

from app.game.history import ProfitPoint
from app.web.schemas import ErrorFrame, GameConfig, ModelMetrics, NoticeFrame, SnapshotFrame
from app.web.session import GameSession
from app.web.state_view import View


def history_dict(points: Sequence[ProfitPoint], names: Sequence[str]) -> dict[str, Any]:
    """Points in the `History` shape: ticks, each factory's profits, the ghost's."""
    return {
        "tick": [p.tick for p in points],
        "profit": {name: [p.profit.get(name, 0.0) for p in points] for name in names},
        "ghost": [p.ghost for p in points],
    }


def factory_names(view: View) -> list[str]:
    return [f["name"] for f in view["factories"]]


def snapshot_frame(
    session: GameSession,
    config: GameConfig,
    models: ModelMetrics,
    *,
    seq: int,
    session_id: str,
    resumed: bool = False,
    notice: str | None = None,
) -> tuple[bytes, View]:
    """The snapshot as bytes, and the state view it carries (the base of the next delta)."""
    view = session.view()
    frame = SnapshotFrame.model_validate(
        {
            "seq": seq,
            "session_id": session_id,
            "resumed": resumed,
            "notice": notice,
            "config": config,
            "models": models,
            "state": view,
            "history": history_dict(session.history.since(None), factory_names(view)),
        }
    )
    return frame.model_dump_json().encode(), view


def delta_frame(
    seq: int, tick: int, patch: dict[str, Any], points: Sequence[ProfitPoint], names: Sequence[str]
) -> bytes:
    """A delta frame as bytes."""
    return orjson.dumps(
        {
            "type": "delta",
            "seq": seq,
            "tick": tick,
            "patch": patch,
            "points": history_dict(points, names),
        }
    )


def error_frame(message: str, code: Literal["not_saved"] | None = None) -> bytes:
    """An error frame as bytes (no `code` key unless one is given)."""
    return ErrorFrame(message=message, code=code).model_dump_json(exclude_none=True).encode()


def saved_again_frame(message: str) -> bytes:
    """The notice that a game whose saves failed is saved again."""
    return NoticeFrame(code="saved", message=message).model_dump_json().encode()

"""The Compare websocket on the real server: progress per seed, then the paired result."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets

from app.game.compare import compare_seed
from app.game.settings import GameSettings

GUARD_S = 60.0  # hang guard only


async def _exchange(url: str, request: Any) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    async with websockets.connect(url) as ws:
        await ws.send(request if isinstance(request, str) else json.dumps(request))
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), GUARD_S))
            frames.append(frame)
            if frame["type"] in ("result", "error"):
                return frames


def test_compare_streams_progress_then_the_result(live_server: str, game_models: Any) -> None:
    url = f"ws://{live_server}/ws/compare"
    frames = asyncio.run(_exchange(url, {"type": "compare", "seeds": [0, 1, 2], "ticks": 1500}))
    assert [f["type"] for f in frames] == ["progress", "progress", "progress", "result"]
    assert [(f["done"], f["total"], f["seed"]) for f in frames[:3]] == [
        (1, 3, 0),
        (2, 3, 1),
        (3, 3, 2),
    ]
    result = frames[-1]
    assert result["model"] == game_models.model and result["ticks"] == 1500
    n_nodes = game_models.traces[0].n_nodes
    for seed_result in result["seeds"]:
        assert len(seed_result["local_by_factory"]) == n_nodes
        # The same numbers as the game's own comparison of that seed, computed here.
        expected = compare_seed(game_models.traces, GameSettings(), seed_result["seed"], 1500)
        assert seed_result["local_by_factory"] == expected.local_by_factory
        assert seed_result["percent_of_oracle"] == expected.percent_of_oracle
    lo, hi = result["federated_minus_local"]["ci95"]
    assert lo <= result["federated_minus_local"]["mean"] <= hi
    assert 0.0 <= result["share_federated_beats_local"] <= 1.0


def test_bad_compare_requests_get_an_error_frame(live_server: str) -> None:
    url = f"ws://{live_server}/ws/compare"
    for request, expected in [
        ("{nope", "invalid JSON"),
        ({"type": "compare", "ticks": 10}, "ticks"),
        ({"type": "compare", "seeds": []}, "seeds"),
        ({"type": "compare", "seeds": list(range(50))}, "seeds"),
        ({"type": "compare", "speed": 3}, "speed"),
    ]:
        frames = asyncio.run(_exchange(url, request))
        assert frames[-1]["type"] == "error" and expected in frames[-1]["message"], frames

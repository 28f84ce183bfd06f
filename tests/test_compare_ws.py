"""The Compare websocket on the real server: progress per seed, then the paired result."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path
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


def test_the_published_answer_over_training_seeds_is_the_benchmark_file(live_server: str) -> None:
    """GET /api/compare/published serves bench/results/compare.json's answer (the README's and
    `tycoon compare`'s: training seeds), read from the file, per decision."""
    from app.web.compare_published import PUBLISHED

    with urllib.request.urlopen(f"http://{live_server}/api/compare/published") as response:
        served = json.loads(response.read())
    data = json.loads(PUBLISHED.read_text())
    assert served["source"] == "bench/results/compare.json"
    assert served["date"] == data["produced"]["date"] and served["ticks"] == data["ticks"]
    assert served["training_seeds"] == [s["seed"] for s in data["seeds"]]
    assert served["model"] == data.get("model", "window")
    for decision, source in ((data["decision"], data), ("raw", data["raw"])):
        answer = served["by_decision"][decision]
        assert answer["federated_minus_local"]["mean"] == source["federated_minus_local"]["mean"]
        assert answer["federated_minus_local"]["ci95"] == source["federated_minus_local"]["ci95"]
        assert answer["share_federated_beats_local"] == source["share_federated_beats_local"]


def test_no_published_answer_is_a_404_in_words(tmp_path: Path) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from app.web.compare_published import published_router

    app = FastAPI()
    app.include_router(published_router(tmp_path / "missing.json"), prefix="/missing")
    (tmp_path / "bad.json").write_text('{"seeds": 3}')
    app.include_router(published_router(tmp_path / "bad.json"), prefix="/bad")
    client = TestClient(app)
    missing = client.get("/missing/api/compare/published")
    assert missing.status_code == 404 and "no published comparison" in missing.json()["detail"]
    bad = client.get("/bad/api/compare/published")
    assert bad.status_code == 404 and "is not a compare result" in bad.json()["detail"]

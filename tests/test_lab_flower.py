"""The Federation Lab on Flower's deployment runtime (issue 13): a small federation of real
processes (a SuperLink, one SuperNode per factory) streams its rounds through `/ws/lab` like an
in-process run, and the settings it cannot honour are refused in words."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import psutil  # type: ignore[import-untyped]
import pytest
import websockets
from servers import play, running_server

from fl_engine.lab import LabConfigError, lab_config

FLOWER = {"runtime": "flower-deployment", "model": "ff09"}


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"nodes": 9}, "nodes must be at most 8 on runtime flower-deployment"),
        ({"nodes": 4, "aggregation": "median"}, "aggregation fedavg"),
        ({"nodes": 4, "attack": "sign_flip", "attackers": 0.25}, "no attack"),
        ({"nodes": 4, "dp_noise": 1.0, "dp_clip": 1.0}, "no privacy or compression"),
        ({"nodes": 4, "model": "window"}, "model ff09"),
        ({"nodes": 4, "runtime": "ray"}, "runtime"),
    ],
)
def test_what_a_flower_lab_run_cannot_do_is_refused_in_words(
    settings: dict[str, object], words: str
) -> None:
    with pytest.raises(LabConfigError, match=words):
        lab_config({**FLOWER, **settings})


def _flower_processes() -> list[int]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "flower-superlink" in cmd or "fast_supernode" in cmd or "warm_clientapp" in cmd:
            found.append(proc.pid)
    return found


def test_a_flower_deployment_streams_its_rounds_to_the_lab(game_models: Any) -> None:
    pytest.importorskip("flwr")
    before = set(_flower_processes())
    config = {**FLOWER, "nodes": 4, "rounds": 2}

    async def scenario(base: str) -> list[dict[str, Any]]:
        frames = []
        async with websockets.connect(f"ws://{base}/ws/lab", max_size=1 << 22) as ws:
            await ws.send(json.dumps({"type": "start", "config": config}))
            while not frames or frames[-1]["type"] not in ("finished", "error"):
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), 300)))
        return frames

    with running_server(game_models) as base:
        frames = play(lambda: scenario(base), guard_s=400)
    assert [f["type"] for f in frames] == ["started", "round", "round", "finished"], frames[-1]
    records = [f["record"] for f in frames if f["type"] == "round"]
    for number, record in enumerate(records, start=1):
        assert record["round"] == number and record["runtime"] == "flower-deployment"
        assert record["participants"] == [0, 1, 2, 3] and record["dropped"] == []
        assert record["rmse"] > 0 and record["late_life_rmse"] > 0
        assert record["bytes_up"] > 0 and record["bytes_down"] > 0
        assert all(loss is not None for loss in record["node_loss_before"])
    assert frames[-1]["final"]["rmse"] == records[-1]["rmse"]
    # the deployment stopped every process it started
    for _ in range(50):
        if set(_flower_processes()) <= before:
            break
        time.sleep(0.2)
    assert set(_flower_processes()) <= before

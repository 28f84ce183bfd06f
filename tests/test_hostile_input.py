"""Hostile or careless lab and compare input (issue 20), against a real server on loopback.

Each defect measured on the server has its test: a message nested ~1000 levels deep (#9), a
negative seed (#10), unbounded settings and a diverged model's deployment (#12), lax types (#17).
Every refusal is one error frame naming the field, and the connection goes on (the next message
is answered): never a traceback, never a closed socket. The server allows 64 KiB messages so
that a 1000-deep object fits, as an operator raising `max_message_bytes` would allow.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
import websockets
from servers import play, running_server

from app.lab_bridge import deployed_traces
from app.web.client import GameClient
from fl_engine.data import Runs
from fl_engine.lab import LabConfig, LabConfigError, LabRun, lab_config

Frame = dict[str, Any]
SMALL = {"model": "ff09", "nodes": 8, "rounds": 1}


@pytest.fixture(scope="module")
def server(game_models: Any) -> Iterator[str]:
    with running_server(game_models, max_lab_runs=1, max_message_bytes=1 << 16) as base:
        yield base


def _deep(levels: int) -> str:
    """An object `levels` deep: {"a": {"a": ... 1 ...}}."""
    return '{"a":' * levels + "1" + "}" * levels


async def _recv(ws: websockets.ClientConnection) -> Frame:
    frame: Frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
    return frame


async def _answers(base: str, path: str, messages: list[str], last: str) -> list[Frame]:
    """The first frame answering each message, then the answer to `last` (the socket lives)."""
    async with websockets.connect(f"ws://{base}/ws/{path}", max_size=1 << 22) as ws:
        frames = []
        for message in [*messages, last]:
            await ws.send(message)
            frames.append(await _recv(ws))
        return frames


def _start(config: Any) -> str:
    return json.dumps({"type": "start", "config": config})


def _lab_refusals(server: str, configs: list[Any]) -> list[Frame]:
    texts = [c if isinstance(c, str) else _start(c) for c in configs]
    frames = play(lambda: _answers(server, "lab", texts, json.dumps({"type": "pause"})))
    assert frames[-1]["type"] == "error" and "no run to pause" in frames[-1]["message"]
    return frames[:-1]


def _compare_refusals(server: str, requests: list[Any]) -> list[Frame]:
    texts = [r if isinstance(r, str) else json.dumps(r) for r in requests]
    frames = play(lambda: _answers(server, "compare", texts, "{nope"))
    assert frames[-1]["type"] == "error" and "invalid JSON" in frames[-1]["message"]
    return frames[:-1]


# ---------------------------------------------------------------- #9: deep nesting


def test_deep_nesting_gets_an_error_frame_on_the_lab_and_compare_sockets(server: str) -> None:
    lab = _lab_refusals(
        server,
        [
            '{"type":"start","config":{"a":' + _deep(1000) + "}}",
            '{"type":"start","config":{"nodes":' + _deep(1000) + "}}",
            '{"type":"start","config":{"aggregation":' + _deep(977) + "}}",
            '{"type":"start","config":' + _deep(17) + "}",  # just past the limit (16)
        ],
    )
    compare = _compare_refusals(
        server,
        [
            '{"type":"compare","seeds":' + _deep(1000) + "}",
            '{"type":"compare","seeds":[' + "[" * 900 + "1" + "]" * 900 + "]}",
        ],
    )
    for frame in lab + compare:
        assert frame["type"] == "error" and "more than 16 levels deep" in frame["message"], frame
        assert len(frame["message"]) < 200


def test_a_nested_value_within_the_limit_is_named_never_repr_d(server: str) -> None:
    (frame,) = _lab_refusals(server, [{"aggregation": {"a": {"b": [1, 2, 3]}}}])
    assert frame["field"] == "aggregation" and "got an object" in frame["message"], frame


def test_the_game_socket_answers_deep_nesting_and_goes_on(server: str) -> None:
    async def scenario() -> tuple[Frame, Frame]:
        player = await GameClient.connect(server)
        try:
            await player.recv()
            await player.send('{"type":"reset","seed":' + _deep(1000) + "}")
            deep = await player.until(lambda f: f["type"] == "error")
            await player.send({"type": "nope"})
            after = await player.until(lambda f: f["type"] == "error")
            return deep, after
        finally:
            await player.close()

    deep, after = play(scenario)
    assert "seed" in deep["message"] and len(deep["message"]) < 400, deep
    assert "unknown command type 'nope'" in after["message"]


# ---------------------------------------------------------------- #10: negative seeds


def test_a_negative_or_huge_seed_is_refused_naming_the_field(server: str) -> None:
    compare = _compare_refusals(
        server,
        [
            {"type": "compare", "seeds": [-1], "ticks": 500},
            {"type": "compare", "seeds": [0, 2**32], "ticks": 500},
        ],
    )
    for frame, got in zip(compare, ["-1 at seeds.0", "4294967296 at seeds.1"], strict=True):
        assert frame["type"] == "error" and frame["field"] == "seeds", frame
        assert "whole numbers from 0 to 4294967295" in frame["message"] and got in frame["message"]
    lab = _lab_refusals(server, [{**SMALL, "seed": -1}, {**SMALL, "seed": 2**32}])
    for frame, got in zip(lab, ["-1", "4294967296"], strict=True):
        assert frame["field"] == "seed", frame
        assert f"seed must be between 0 and 4294967295, got {got}" in frame["message"]


def test_compare_plays_after_a_refusal_on_the_same_socket(server: str) -> None:
    async def scenario() -> list[Frame]:
        async with websockets.connect(f"ws://{server}/ws/compare") as ws:
            await ws.send(json.dumps({"type": "compare", "seeds": [-1], "ticks": 500}))
            frames = [await _recv(ws)]
            await ws.send(json.dumps({"type": "compare", "seeds": [4294967295], "ticks": 500}))
            while frames[-1]["type"] != "result":
                frames.append(await _recv(ws))
            return frames

    frames = play(scenario)
    assert [f["type"] for f in frames] == ["error", "progress", "result"], frames
    assert frames[-1]["seeds"][0]["seed"] == 4294967295


# ---------------------------------------------------------------- #12: bounds and divergence


@pytest.mark.parametrize(
    ("config", "field", "words"),
    [
        ({"aggregation": "fedadam", "server_lr": 1e30}, "server_lr", "at most 10"),
        ({"aggregation": "fedprox", "prox_mu": 100}, "prox_mu", "between 0 and 10"),
        (
            {"attack": "scale", "attackers": 0.25, "attack_scale": 1e7},
            "attack_scale",
            "between -1,000,000 and 1,000,000",
        ),
        ({"attack": "noise", "attackers": 0.25, "noise_std": 1e4}, "noise_std", "0 and 1000"),
        ({"dp_noise": 1.0, "dp_clip": 1e30}, "dp_clip", "at most 1,000,000"),
    ],
)
def test_settings_past_their_bounds_are_refused_in_words(
    server: str, config: Frame, field: str, words: str
) -> None:
    (frame,) = _lab_refusals(server, [{**SMALL, **config}])
    assert frame["type"] == "error" and frame["field"] == field, frame
    assert words in frame["message"]
    with pytest.raises(LabConfigError, match=field):  # the CLI's path: the same rule
        lab_config({**SMALL, **config})


@pytest.fixture(scope="module")
def trained(runs: Runs) -> LabRun:
    run = LabRun(runs, LabConfig(**SMALL))
    run.run()
    return run


def test_a_diverged_model_is_never_deployed(game_models: Any, runs: Runs, trained: Any) -> None:
    traces = list(game_models.traces)
    assert len(deployed_traces(traces, trained, runs)) == len(traces)  # finite: deployable
    good = trained._params.clone()
    trained.records[-1]["rmse"] = None  # how a run records a test RMSE that is not finite
    with pytest.raises(ValueError, match="this model diverged: its test RMSE is not finite"):
        deployed_traces(traces, trained, runs)
    trained.records[-1]["rmse"] = 1.0
    trained._params = torch.full_like(good, float("nan"))  # weights gone to NaN
    with pytest.raises(ValueError, match=r"diverged: its weights are not finite.*cannot be depl"):
        deployed_traces(traces, trained, runs)
    trained._params = good
    assert np.isfinite(deployed_traces(traces, trained, runs)[0].federated_rul).all()


# ---------------------------------------------------------------- #17: strict types


def test_lax_types_are_refused_naming_the_field(server: str) -> None:
    cases = [
        ({"nodes": True}, "nodes", "nodes must be a whole number, got true"),
        ({"secure_aggregation": "yes"}, "secure_aggregation", "must be true or false, got 'yes'"),
        ({"rounds": "5"}, "rounds", "rounds must be a whole number, got '5'"),
        ({"rounds": 5.0}, "rounds", "got 5.0"),
        ({"lr": "0.01"}, "lr", "lr must be a number, got '0.01'"),
        ({"dp_adaptive_clip": 1}, "dp_adaptive_clip", "true or false, got 1"),
        ({"deadline": False}, "deadline", "deadline must be a number or null, got false"),
        ({"attacker_nodes": [True], "attack": "nan"}, "attacker_nodes", "node indices, got true"),
    ]
    frames = _lab_refusals(server, [{**SMALL, **config} for config, _, _ in cases])
    for frame, (_, field, words) in zip(frames, cases, strict=True):
        assert frame["type"] == "error" and frame["field"] == field, frame
        assert words in frame["message"], frame
    compare = _compare_refusals(
        server,
        [
            {"type": "compare", "ticks": True},
            {"type": "compare", "ticks": "600"},
            {"type": "compare", "ticks": 600.0},
            {"type": "compare", "seeds": [True]},
            {"type": "compare", "seeds": "0"},
        ],
    )
    for frame, field in zip(compare, ["ticks"] * 3 + ["seeds"] * 2, strict=True):
        assert frame["type"] == "error" and frame["field"] == field, frame
        assert field in frame["message"]


def test_a_float_field_takes_an_int(server: str) -> None:
    async def scenario() -> list[Frame]:
        async with websockets.connect(f"ws://{server}/ws/lab", max_size=1 << 22) as ws:
            await ws.send(_start({**SMALL, "lr": 1, "sample_fraction": 1, "seed": 3}))
            frames = [await _recv(ws)]
            while frames[-1]["type"] not in ("finished", "error"):
                frames.append(await _recv(ws))
            return frames

    frames = play(scenario)
    assert [f["type"] for f in frames] == ["started", "round", "finished"], frames[-1]
    assert frames[0]["config"]["lr"] == 1.0 and frames[0]["config"]["seed"] == 3

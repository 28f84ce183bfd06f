"""Bounded lab work (issue 20; docs/lab.md, section 6), on real data, real training, a real server.

A run's work is estimated before it queues and a run too big for the server is refused in words;
a round is trained in batches of nodes with a cancel check between them (the same models as one
pass), so a Cancel or a closed socket frees the thread and the slot within seconds however big the
round; paused in-process runs give their slot back only into the server's few paused places.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import torch
import websockets
from servers import play, running_server

from fl_engine.data import Runs
from fl_engine.lab import LabRun, lab_config
from fl_engine.lab.limits import Cancelled, lab_work
from fl_engine.local_training import epoch_plan

Frame = dict[str, Any]
SMALL_LONG = {"model": "ff09", "nodes": 8, "rounds": 500}  # a round: hundredths of a second
# A round of ~15 million node-row-epochs: ~150 s on the 2 busy cores here, so only a cancel
# checked inside the round can free its thread within the bounds below.
HEAVY = {"model": "window", "nodes": 2000, "local_epochs": 10, "rounds": 2}
FREED_S = 15.0  # "within a few seconds", with room for a loaded 2-core machine


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """As the server's lab threads train (two threads on the 2 busy cores here: 10x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("model", ["window", "ff09"])
def test_batches_of_nodes_train_the_models_one_pass_trains(runs: Runs, model: str) -> None:
    run = LabRun(runs, lab_config({"model": model, "nodes": 100, "rounds": 1, "local_epochs": 2}))
    base = torch.arange(16) % run.n_base
    plans = [epoch_plan(run.nodes.sizes[base], run.batch_size, run.generator) for _ in range(2)]
    start = run.init.unsqueeze(0).repeat(16, 1)
    whole, batched = start.clone(), start.clone()
    run.nodes.train(whole, base, plans, run.adam, False, batch=16)
    run.nodes.train(batched, base, plans, run.adam, False, batch=5)  # 4 batches of 4 nodes
    assert not torch.equal(whole, start)
    # Independent nodes, so the same models; float32 rounding of batched products differs by
    # 6e-8 at most here.
    assert torch.allclose(batched, whole, rtol=0, atol=1e-6)


def test_a_cancel_stops_a_round_between_batches(runs: Runs) -> None:
    run = LabRun(runs, lab_config({"model": "ff09", "nodes": 100, "rounds": 2}))
    base = torch.arange(40) % run.n_base
    plans = [epoch_plan(run.nodes.sizes[base], run.batch_size, run.generator)]
    asked: list[int] = []

    def cancel() -> bool:  # asked before each batch and before each of its epochs (one here)
        asked.append(1)
        return len(asked) > 4  # let two batches train, then stop

    params = run.init.unsqueeze(0).repeat(40, 1)
    with pytest.raises(Cancelled):
        run.nodes.train(params, base, plans, run.adam, False, cancel=cancel, batch=10)
    trained = ~(params == run.init).all(1)
    assert trained[:20].all() and not trained[20:].any()  # two batches of 10, no more
    run.cancel()
    with pytest.raises(Cancelled):
        run.step()


def test_a_cancel_from_another_thread_ends_a_big_round_within_seconds(runs: Runs) -> None:
    run = LabRun(runs, lab_config(HEAVY))
    threading.Timer(1.0, run.cancel).start()
    start = time.monotonic()
    with pytest.raises(Cancelled):
        run.step()
    took = time.monotonic() - start
    assert took < 1.0 + FREED_S, f"a cancelled round went on for {took:.1f} s"
    assert run.rounds_done == 0


def test_the_estimate_counts_nodes_rows_epochs_and_rounds(runs: Runs) -> None:
    default = lab_work(runs, lab_config({}))  # 80 nodes, 20 rounds, 1 local epoch
    assert 40_000 < default.train_rows < 80_000
    assert default.rows_per_node == pytest.approx(default.train_rows / 80)
    assert default.total == pytest.approx(default.train_rows * 20)
    big = lab_work(runs, lab_config({"nodes": 8000, "local_epochs": 20, "rounds": 20}))
    assert big.rows_per_node == pytest.approx(default.rows_per_node)  # replicated partitions
    assert big.total == pytest.approx(8000 * default.rows_per_node * 20 * 20)
    words = big.refusal(200e6)
    for part in ("8,000 nodes", "rows each", "20 local epochs", "20 rounds", "billion", "200.0"):
        assert part in words, words
    sampled = lab_work(runs, lab_config({"nodes": 8000, "sample_fraction": 0.1}))
    assert sampled.total == pytest.approx(0.1 * 8000 * default.rows_per_node * 20)


# ---------------------------------------------------------------- on a real server


def _status(base: str) -> Frame:
    with urllib.request.urlopen(f"http://{base}/api/lab", timeout=10) as response:
        status: Frame = json.loads(response.read())
        return status


async def _recv(ws: websockets.ClientConnection, timeout: float = 60.0) -> Frame:
    frame: Frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return frame


async def _until(ws: websockets.ClientConnection, kind: str, timeout: float = 60.0) -> list[Frame]:
    frames = [await _recv(ws, timeout)]
    while frames[-1]["type"] != kind:
        assert frames[-1]["type"] != "error", frames[-1]
        frames.append(await _recv(ws, timeout))
    return frames


async def _lab(base: str, accept: Any, within_s: float) -> tuple[Frame, float]:
    """Poll /api/lab until `accept(status)`; the status and how long it took."""
    start = time.monotonic()
    while not accept(status := await asyncio.to_thread(_status, base)):
        assert time.monotonic() - start < within_s, f"/api/lab after {within_s:g} s: {status}"
        await asyncio.sleep(0.1)
    return status, time.monotonic() - start


async def _computing(base: str, ws: websockets.ClientConnection) -> None:
    """Start HEAVY on `ws` and return once its first round has computed for 2 s."""
    await ws.send(json.dumps({"type": "start", "config": HEAVY}))
    await _until(ws, "started")
    await _lab(base, lambda s: s["threads"] == 1, 30.0)
    await asyncio.sleep(2.0)
    assert (await asyncio.to_thread(_status, base))["threads"] == 1
    with pytest.raises(TimeoutError):  # the round is still under way
        await asyncio.wait_for(ws.recv(), 0.1)


def test_a_run_too_big_for_the_server_is_refused_with_its_size(game_models: Any) -> None:
    big = {"nodes": 8000, "local_epochs": 20, "rounds": 20}

    async def scenario(base: str) -> tuple[Frame, Frame]:
        async with websockets.connect(f"ws://{base}/ws/lab") as ws:
            await ws.send(json.dumps({"type": "start", "config": big}))
            return await _recv(ws), await asyncio.to_thread(_status, base)

    with running_server(game_models) as base:
        frame, status = play(lambda: scenario(base))
    assert frame["type"] == "error", frame
    for words in ("too big", "8,000 nodes", "20 local epochs", "20 rounds", "billion", "limit"):
        assert words in frame["message"], frame["message"]
    assert status["training"] == status["queued"] == status["threads"] == 0


def test_cancel_and_a_closed_socket_free_a_big_round_within_seconds(game_models: Any) -> None:
    async def scenario(base: str) -> tuple[float, float]:
        async with websockets.connect(f"ws://{base}/ws/lab") as ws:
            await _computing(base, ws)
            start = time.monotonic()
            await ws.send(json.dumps({"type": "cancel"}))
            frames = await _until(ws, "cancelled", FREED_S)
            cancelled = time.monotonic() - start
            assert frames[-1]["rounds_done"] == 0
            await _lab(base, lambda s: s["threads"] == s["training"] == 0, 5.0)
        ws = await websockets.connect(f"ws://{base}/ws/lab")
        await _computing(base, ws)
        await ws.close()
        _, closed = await _lab(base, lambda s: s["threads"] == s["training"] == 0, FREED_S)
        return cancelled, closed

    with running_server(game_models, max_lab_runs=1) as base:
        cancelled, closed = play(lambda: scenario(base), guard_s=180)
    print(f"freed after a cancel in {cancelled:.1f} s, after a close in {closed:.1f} s")


def test_paused_runs_give_their_slot_back_only_into_the_paused_places(game_models: Any) -> None:
    async def pause(ws: websockets.ClientConnection) -> None:
        await ws.send(json.dumps({"type": "start", "config": SMALL_LONG}))
        await _until(ws, "round")
        await ws.send(json.dumps({"type": "pause"}))
        await _until(ws, "status")

    async def scenario(base: str) -> list[Frame]:
        seen = []
        a, b, c = [await websockets.connect(f"ws://{base}/ws/lab") for _ in range(3)]
        try:
            await pause(a)  # the one paused place: a's slot goes back
            seen.append((await _lab(base, lambda s: s["training"] == 0, 10.0))[0])
            await pause(b)  # no paused place left: b keeps its slot
            await asyncio.sleep(0.5)
            seen.append(await asyncio.to_thread(_status, base))
            await c.send(json.dumps({"type": "start", "config": SMALL_LONG}))
            seen.append(await _recv(c))
            await b.send(json.dumps({"type": "cancel"}))  # b's slot goes to c
            await _until(b, "cancelled")
            await _until(c, "round")
        finally:
            for ws in (a, b, c):
                await ws.close()
        seen.append((await _lab(base, lambda s: s["training"] == s["threads"] == 0, 10.0))[0])
        return seen

    with running_server(game_models, max_lab_runs=1, max_paused_lab_runs=1) as base:
        parked, kept, queued, rest = play(lambda: scenario(base))
    assert parked["training"] == 0 and parked["queued"] == 0
    assert kept["training"] == 1
    assert queued["type"] == "queued" and queued["position"] == 1
    assert rest["queued"] == 0

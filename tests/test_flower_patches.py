"""The patches to Flower's own code (`fl_engine.flower.patches`) and the doorbells that let our
Flower processes nap instead of polling (`fl_engine.flower.doorbell`). No Flower processes here:
each part is checked on its own, in a second or two.

(a) every patched line is still in the installed Flower, so no patch is dead weight (when this
fails, Flower fixed it: drop that patch as the module's docstring says); (b) the nap schedule;
(c) the ServerApp grid's contract (all replies or the timeout) and its ring to the SuperNodes;
(d) a ring wakes a napping listener in another process, and a dead listener's pipe is removed.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fl_engine.flower.doorbell import ENV, SERVERAPPS, SUPERNODES, Doorbell

flwr = pytest.importorskip("flwr")

from fl_engine.flower import patches  # noqa: E402


def test_every_patch_still_replaces_a_line_of_the_installed_flower() -> None:
    assert patches.stale() == [], f"Flower {flwr.__version__} fixed these: drop them"


def test_the_nap_is_short_after_work_and_grows_with_idleness_to_its_cap() -> None:
    nap = patches.AdaptiveNap(0.1, 2.0, fraction=0.1)
    nap.last_work = time.monotonic()
    assert nap.seconds() == pytest.approx(0.1)
    nap.last_work = time.monotonic() - 5.0
    assert nap.seconds() == pytest.approx(0.5, abs=0.01)
    nap.last_work = time.monotonic() - 600.0
    assert nap.seconds() == 2.0
    nap.worked()
    assert nap.seconds() == pytest.approx(0.1)


@dataclass
class _Meta:
    reply_to_message_id: str


@dataclass
class _Reply:
    metadata: _Meta


class HttpGrid:  # the name `fast_replies` recognises; replies trickle in one per pull
    def __init__(self, answered: int) -> None:
        self.answered, self.pulls = answered, 0

    def push_messages(self, messages: Iterable[Any]) -> Iterable[str]:
        return [str(m) for m in messages]

    def pull_messages(self, ids: Iterable[str]) -> Iterable[_Reply]:
        self.pulls += 1
        ready = sorted(ids)[:1] if self.answered > 0 else []
        self.answered -= len(ready)
        return [_Reply(_Meta(i)) for i in ready]

    def send_and_receive(self, messages: Iterable[Any], *, timeout: float | None = None) -> Any:
        raise AssertionError("Flower's own, with its 3 s sleep, must not run")


def test_the_grid_returns_every_reply_or_stops_at_its_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    grid = patches.fast_replies(HttpGrid(answered=3), poll_s=0.01)
    replies = list(grid.send_and_receive(["a", "b", "c"], timeout=30))
    assert sorted(r.metadata.reply_to_message_id for r in replies) == ["a", "b", "c"]
    late = patches.fast_replies(HttpGrid(answered=1), poll_s=0.01)
    assert len(list(late.send_and_receive(["a", "b"], timeout=0.2))) == 1
    other = object()
    assert patches.fast_replies(other) is other  # the simulation's grid is left alone


def test_the_grid_rings_the_supernodes_when_it_pushes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, str(tmp_path))
    node = Doorbell(tmp_path / SUPERNODES).listen()
    try:
        grid = patches.fast_replies(HttpGrid(answered=1), poll_s=0.01)
        assert (tmp_path / SERVERAPPS / str(os.getpid())).is_fifo()  # it listens for replies
        assert not node.wait(0)
        list(grid.send_and_receive(["a"], timeout=30))
        assert node.wait(0) and not node.wait(0)  # rung once, and the ring is consumed
    finally:
        node.close()


def _nap_until_rung(folder: str, ready: Any, out: Any) -> None:
    bell = Doorbell(Path(folder)).listen()
    ready.set()
    out.put(bell.wait(60.0))  # True: woken by the ring, not by the timeout
    bell.close()


def test_a_ring_wakes_a_listener_in_another_process_and_a_dead_ones_pipe_goes(
    tmp_path: Path,
) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready, out = ctx.Event(), ctx.Queue()
    child = ctx.Process(target=_nap_until_rung, args=(str(tmp_path), ready, out))
    child.start()
    try:
        assert ready.wait(60)
        assert Doorbell(tmp_path).ring() == 1
        assert out.get(timeout=90) is True
    finally:
        child.join(30)
    os.mkfifo(tmp_path / "999999999")  # a listener that died without closing
    assert Doorbell(tmp_path).ring() == 0
    assert list(tmp_path.iterdir()) == []


def test_doorbells_are_off_unless_the_deployment_turns_them_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    assert Doorbell.named(SUPERNODES) is None and Doorbell.executor() is None
    monkeypatch.setenv(ENV, "/tmp/x")
    monkeypatch.setenv("FLWR_HOME", "/tmp/home")
    bell = Doorbell.executor()
    assert bell is not None and bell.folder == Path("/tmp/home/.tycoon-executor-bell")

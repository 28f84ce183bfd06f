"""Every change this project makes to Flower's own code, in one place (checked on Flower 1.42.0).

Flower's deployment runtime has two hard-coded polling sleeps that bound a round from below
whatever the nodes do, and a heartbeat that makes a dead node take a minute to be noticed. There
is no flag or environment variable for any of them in 1.42 (``flower-supernode --help``, the
source), so we replace them at run time, in our own processes only, and nowhere else:

1. **ServerApp reply poll** (`fast_replies`). ``flwr/superlink/grid/http_grid.py``,
   ``HttpGrid.send_and_receive``: ``time.sleep(3)`` between pulls of replies (1.41 and 1.42,
   line 412 in 1.42). Every round of a deployed run lasted at least 3 s. We give the ServerApp's
   grid *instance* a ``send_and_receive`` with the same contract (push, then pull until every
   reply is in or ``timeout`` passes) and a 50 ms pause. Applied by the ServerApp
   (`fl_engine.flower.server_app`) at the top of its ``main``; a simulation grid is left alone.
2. **SuperNode idle nap** (`patch_supernode`). ``flwr/supernode/start_client_internal.py``:
   ``time.sleep(3)`` after every pull that brought no message (line 263 in 1.42), and
   ``time.sleep(0.5)`` while waiting for the ClientApp's reply and its contents (lines 470 and 506).
   Between rounds every node sees empty pulls, so each round waited for the slowest node's 0-3 s
   nap, and every reply for up to 0.5 s more. We give that module a ``time`` whose ``sleep``
   waits for a reply in 20 ms steps and naps adaptively after an empty pull (`AdaptiveNap`:
   a tenth of the time since the node last had work, 0.1 s to 2 s), and record when the node
   last had work by wrapping the module's ``_pull_and_store_message`` and ``_push_messages``.
3. **SuperNode heartbeat** (`patch_supernode`). ``flwr/common/constant.py``:
   ``HEARTBEAT_DEFAULT_INTERVAL = 30`` (line 44), read by ``supernode/fleet_http_connection.py``
   (the interval announced to the SuperLink) and ``supercore/heartbeat.py`` (the sender's
   period). We set 10 s, Flower's minimum (``HEARTBEAT_MIN_INTERVAL``), so the SuperLink declares
   a dead node offline after ~20-30 s instead of ~60-90 s.

Not patches (supported settings, set in `fl_engine.flower.processes.QUIET_ENV`):
``FLWR_SUPEREXEC_TASK_POLL_INTERVAL`` (the SuperLink's SuperExec, which starts the ServerApp).
Our own long-lived ClientApp executor (`fl_engine.flower.warm_clientapp`) uses Flower's public
task calls and naps with an `AdaptiveNap` of its own.

**Dropping a patch when Flower fixes it.** `stale()` names every patch whose target line is no
longer in the installed Flower (``tests/test_flower_patches.py`` fails on it): then delete that
patch here and its caller (``fast_replies`` in the ServerApp; ``fl_engine.flower.fast_supernode``,
used by `fl_engine.flower.cluster.LocalCluster` when ``fast_poll``, may become plain
``flower-supernode``), and the paragraph in docs/flower.md.
"""

from __future__ import annotations

import inspect
import os
import threading
import time
import types
from collections.abc import Callable, Iterable
from typing import Any

from fl_engine.flower.doorbell import SERVERAPPS, SUPERNODES, Doorbell

GRID_POLL_S = 0.05  # the ServerApp's reply poll (Flower: 3 s)
RUNG_POLL_S = 0.5  # the same where SuperNodes ring when they push a reply (`doorbell`)
REPLY_WAIT_S = 0.02  # the SuperNode's wait for a ClientApp reply (Flower: 0.5 s)
HEARTBEAT_S = 10  # Flower's minimum; its default is 30


class AdaptiveNap:
    """How long to nap after a poll that found nothing: a ``fraction`` of the time since there
    was last work, between ``least_s`` and ``most_s``.

    Why: a fixed short nap costs CPU for ever (8 SuperNodes pulling every 0.2 s and 8 executors
    every 0.05 s took about one core of the two on an idle cluster), a fixed long one adds up to
    its length to every round. Right after a message the next one is likely soon (the next
    round), so the nap is short; the longer nothing came, the less a late answer matters
    relative to the wait, so the added latency stays within ``fraction`` of the idle time.
    """

    def __init__(self, least_s: float, most_s: float, fraction: float = 0.1) -> None:
        self.least_s, self.most_s, self.fraction = least_s, most_s, fraction
        self.last_work = time.monotonic()
        self._lock = threading.Lock()

    def worked(self) -> None:
        """There was work just now: naps start short again."""
        with self._lock:
            self.last_work = time.monotonic()

    def seconds(self) -> float:
        """The nap to take now."""
        with self._lock:
            idle = time.monotonic() - self.last_work
        return min(self.most_s, max(self.least_s, self.fraction * idle))

    def nap(self, bell: Doorbell | None = None) -> bool:
        """Sleep for `seconds()`, or until ``bell`` rings; whether it rang."""
        if bell is None:
            time.sleep(self.seconds())
            return False
        return bell.wait(self.seconds())


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    return float(raw) if raw else default


# --- 1. ServerApp reply poll -----------------------------------------------------------------


def _send_and_receive(
    grid: Any,
    messages: Iterable[Any],
    timeout: float | None,
    poll_s: float,
    bell: Doorbell | None = None,
) -> list[Any]:
    """``HttpGrid.send_and_receive`` of Flower 1.42 with a nap of ``poll_s`` (cut short when
    ``bell`` rings) for its ``time.sleep(3)``."""
    pending = set(grid.push_messages(messages))
    end = time.time() + (timeout if timeout is not None else 0.0)
    replies: list[Any] = []
    while timeout is None or time.time() < end:
        got = list(grid.pull_messages(pending))
        replies.extend(got)
        pending.difference_update(m.metadata.reply_to_message_id for m in got)
        if not pending:
            break
        if bell is None:
            time.sleep(poll_s)
        else:
            bell.wait(poll_s if timeout is None else min(poll_s, max(0.0, end - time.time())))
    return replies


def fast_replies(grid: Any, poll_s: float | None = None) -> Any:
    """``grid`` (a deployment's ``HttpGrid``) with a ``send_and_receive`` that polls every
    ``poll_s`` seconds (50 ms; 0.5 s where SuperNodes ring the ``serverapps`` doorbell, which
    cuts the nap short), and a ``push_messages`` that rings the ``supernodes`` doorbell;
    any other grid as it is."""
    if type(grid).__name__ != "HttpGrid":
        return grid
    replies = Doorbell.named(SERVERAPPS)
    if replies is not None:
        replies.listen()
    nodes = Doorbell.named(SUPERNODES)
    wait_s = poll_s if poll_s is not None else (RUNG_POLL_S if replies else GRID_POLL_S)
    push = grid.push_messages

    def push_messages(self: Any, messages: Iterable[Any]) -> Iterable[Any]:
        ids = list(push(messages))
        if nodes is not None:
            nodes.ring()
        return ids

    def send_and_receive(
        self: Any, messages: Iterable[Any], *, timeout: float | None = None
    ) -> Iterable[Any]:
        return _send_and_receive(self, messages, timeout, wait_s, replies)

    grid.push_messages = types.MethodType(push_messages, grid)
    grid.send_and_receive = types.MethodType(send_and_receive, grid)
    return grid


# --- 2. and 3. SuperNode idle nap, reply wait, heartbeat -------------------------------------


def _napping_time(
    idle: AdaptiveNap, reply_wait_s: float, bell: Doorbell | None
) -> types.ModuleType:
    """A ``time`` module whose ``sleep`` replaces Flower's two nap lengths: 3 s after an empty
    pull (-> ``idle``, cut short by ``bell``) and 0.5 s while a reply is awaited
    (-> ``reply_wait_s``)."""
    proxy = types.ModuleType("time")
    proxy.__dict__.update(time.__dict__)

    def sleep(seconds: float) -> None:
        if seconds >= 1.0:
            idle.nap(bell)
        else:
            time.sleep(min(seconds, reply_wait_s))

    proxy.sleep = sleep  # type: ignore[attr-defined]
    return proxy


def _noting(
    idle: AdaptiveNap, func: Callable[..., Any], any_result: bool, bell: Doorbell | None
) -> Callable[..., Any]:
    """``func`` that, when it returns (a result, unless ``any_result``), marks ``idle`` as having
    worked and rings ``bell``."""

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        result = func(*args, **kwargs)
        if any_result or result is not None:
            idle.worked()
            if bell is not None:
                bell.ring()
        return result

    wrapped.__wrapped__ = func  # type: ignore[attr-defined]
    return wrapped


def supernode_nap(rung: bool = False) -> AdaptiveNap:
    """The SuperNode's idle nap: ``TYCOON_SUPERNODE_POLL_S`` right after work (default 0.1 s;
    1 s where the ServerApp rings the ``supernodes`` doorbell), growing to
    ``TYCOON_SUPERNODE_IDLE_POLL_S`` (default 2 s) when idle."""
    least = _env_float("TYCOON_SUPERNODE_POLL_S", 1.0 if rung else 0.1)
    return AdaptiveNap(least, max(least, _env_float("TYCOON_SUPERNODE_IDLE_POLL_S", 2.0)))


def patch_supernode() -> AdaptiveNap:
    """Patch this process's Flower SuperNode (patches 2 and 3); call before it starts. Where
    doorbells are on it naps on ``supernodes``, rings its executor when it stored a message and
    ``serverapps`` when it pushed a reply."""
    from flwr.supercore import heartbeat
    from flwr.supernode import fleet_http_connection
    from flwr.supernode import start_client_internal as sci

    bell = Doorbell.named(SUPERNODES)
    if bell is not None:
        bell.listen()
    nap = supernode_nap(rung=bell is not None)
    reply_wait_s = _env_float("TYCOON_SUPERNODE_REPLY_WAIT_S", REPLY_WAIT_S)
    setattr(sci, "time", _napping_time(nap, reply_wait_s, bell))  # noqa: B010
    pull = getattr(sci._pull_and_store_message, "__wrapped__", sci._pull_and_store_message)
    push = getattr(sci._push_messages, "__wrapped__", sci._push_messages)
    sci._pull_and_store_message = _noting(nap, pull, False, Doorbell.executor())
    sci._push_messages = _noting(nap, push, True, Doorbell.named(SERVERAPPS))
    beat_s = int(_env_float("TYCOON_SUPERNODE_HEARTBEAT_S", HEARTBEAT_S))
    for module in (fleet_http_connection, heartbeat):
        setattr(module, "HEARTBEAT_DEFAULT_INTERVAL", beat_s)  # noqa: B010
    return nap


# --- dropping a patch ------------------------------------------------------------------------


def _targets() -> dict[str, tuple[Callable[..., Any], str]]:
    """Each source-line patch: the Flower function it replaces a line of, and that line."""
    from flwr.superlink.grid.http_grid import HttpGrid
    from flwr.supernode import start_client_internal as sci

    return {
        "ServerApp reply poll": (HttpGrid.send_and_receive, "time.sleep(3)"),
        "SuperNode idle nap": (sci.start_client_internal, "time.sleep(3)"),
        "SuperNode reply wait": (sci._push_messages, "time.sleep(0.5)"),
    }


def stale() -> list[str]:
    """The patches whose target is gone from the installed Flower (each one can be dropped)."""
    from flwr.common import constant

    gone = []
    for name, (func, line) in _targets().items():
        if line not in inspect.getsource(getattr(func, "__wrapped__", func)):
            gone.append(name)
    if int(constant.HEARTBEAT_DEFAULT_INTERVAL) <= HEARTBEAT_S:
        gone.append("SuperNode heartbeat")
    return gone

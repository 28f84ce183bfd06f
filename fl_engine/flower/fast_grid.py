"""A ServerApp's ``Grid`` that looks for replies every 50 ms instead of every 3 s.

Flower 1.41's deployment ``Grid.send_and_receive`` sleeps a hard-coded 3 s between
pulls of replies, so every round of a deployed run lasts at least 3 s whatever the
nodes do. ``fast_replies(grid)`` gives the grid a ``send_and_receive`` with the same
contract (push, then pull until all replies are in or ``timeout`` passes) and a short
pause. Call it at the top of the ServerApp's ``main`` before handing the grid on to a
strategy. The simulation runtime's grid is left as it is (it has no such pause).
"""

from __future__ import annotations

import time
import types
from collections.abc import Iterable
from typing import Any


def _send_and_receive(
    self: Any, messages: Iterable[Any], *, timeout: float | None = None, poll_s: float = 0.05
) -> Iterable[Any]:
    pending = set(self.push_messages(messages))
    end = time.time() + (timeout if timeout is not None else 0.0)
    replies: list[Any] = []
    while timeout is None or time.time() < end:
        got = list(self.pull_messages(pending))
        replies.extend(got)
        pending.difference_update(m.metadata.reply_to_message_id for m in got)
        if not pending:
            break
        time.sleep(poll_s)
    return replies


def fast_replies(grid: Any, poll_s: float = 0.05) -> Any:
    """``grid`` with a ``send_and_receive`` that polls every ``poll_s`` seconds."""
    if type(grid).__name__ != "HttpGrid":
        return grid

    def send_and_receive(
        self: Any, messages: Iterable[Any], *, timeout: float | None = None
    ) -> Iterable[Any]:
        return _send_and_receive(self, messages, timeout=timeout, poll_s=poll_s)

    grid.send_and_receive = types.MethodType(send_and_receive, grid)
    return grid

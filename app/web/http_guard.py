"""uvicorn's h11 protocol with the two limits it lacks: a deadline for the request head, and a cap
on open connections that websockets count against too.

Why not uvicorn's own options: uvicorn starts no timer when a connection opens and cancels its
keep-alive timer at the first byte of the next request, so an idle socket, or a slowloris one
sending a header a minute, held its descriptor forever (1,200 of them took all 1,024 and every
/api/health failed, with nothing logged). `limit_concurrency` answers 503 only once a complete
HTTP request arrives, and lets websocket upgrades through, so idle sockets beyond it still
pile up. Here a connection beyond `max_connections` gets a 503 and is closed as it opens, and
every connection must complete its request head within `header_timeout_s` of opening (or of
its previous response). Each limit logs one line when it is hit, then at most one a period
counting the others, so a flood of a thousand sockets is a few lines, not a thousand.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

_log = logging.getLogger("uvicorn.error")  # uvicorn's own log: the same format and handler

# Descriptors the server needs besides its connections: the listening socket, the save file,
# the models, logs, lab threads. The connection cap stays this far below the open-file limit.
OWN_DESCRIPTORS = 100
# Seconds between two log lines about one limit (the first hit is logged at once).
_LOG_PERIOD_S = 10.0


def _plain_response(status: bytes, text: str) -> bytes:
    body = text.encode()
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


class LimitLog:
    """Log a limit being hit: the first time at once, then one line a period with a count."""

    def __init__(self, what: str, period_s: float = _LOG_PERIOD_S) -> None:
        self.what = what
        self.period_s = period_s
        self.hits = 0  # every hit since the server started (tests read it)
        self._unreported = 0
        self._timer: asyncio.TimerHandle | None = None

    def hit(self, loop: asyncio.AbstractEventLoop, detail: str) -> None:
        self.hits += 1
        if self._timer is None:
            _log.warning("%s (%s)", self.what, detail)
            self._timer = loop.call_later(self.period_s, self._report, loop)
        else:
            self._unreported += 1

    def _report(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        if self._unreported:
            count, self._unreported = self._unreported, 0
            _log.warning("%s: %d more in the last %g s", self.what, count, self.period_s)
            self._timer = loop.call_later(self.period_s, self._report, loop)


class GuardedH11Protocol(H11Protocol):
    """H11Protocol with a request-head deadline and a connection cap (set by `guarded_h11`)."""

    header_timeout_s: ClassVar[float] = 10.0
    max_connections: ClassVar[int] = 900
    refused: ClassVar[LimitLog] = LimitLog("connection refused")
    timed_out: ClassVar[LimitLog] = LimitLog("connection closed")
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # self.connections holds every open HTTP and websocket connection, this one included.
        if len(self.connections) > self.max_connections:
            self.refused.hit(self.loop, f"{self.max_connections} connections are open, the limit")
            transport.write(_plain_response(b"503 Service Unavailable", "server busy, retry"))
            transport.close()
            return
        self._wait_for_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # A request head arrived (an upgrade hands the socket to the websocket protocol then).
        if self.conn.their_state is not h11.IDLE:
            self._cancel_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._wait_for_head()  # the next request's head has its own deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _wait_for_head(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_too_slow)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        if self.conn.trailing_data[0]:  # part of a head: say why, as far as it can be told
            self.timed_out.hit(self.loop, f"{client} sent no complete request head in time")
            message = f"request head not complete within {self.header_timeout_s:g} s"
            self.transport.write(_plain_response(b"408 Request Timeout", message))
        else:
            self.timed_out.hit(self.loop, f"{client} sent nothing in time")
        self.transport.close()


def guarded_h11(header_timeout_s: float, max_connections: int) -> type[GuardedH11Protocol]:
    """A protocol class for `uvicorn.Config(http=...)` with these limits, and its own logs."""

    class Guarded(GuardedH11Protocol):
        pass

    Guarded.header_timeout_s = header_timeout_s
    Guarded.max_connections = max_connections
    Guarded.refused = LimitLog("connection refused with 503 (TYCOON_MAX_CONNECTIONS)")
    Guarded.timed_out = LimitLog(
        f"connection closed: no complete request head within {header_timeout_s:g} s "
        "(TYCOON_HEADER_TIMEOUT_S)"
    )
    return Guarded


def connection_cap(wanted: int) -> int:
    """`wanted` connections, or fewer if the open-file limit cannot be raised to fit them.

    The soft limit is raised towards the hard one when it is too low (as servers do); what
    still does not fit is logged, once, and the cap lowered to fit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + OWN_DESCRIPTORS
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return wanted
    cap = max(1, soft - OWN_DESCRIPTORS)
    _log.warning(
        "max_connections lowered from %d to %d: the open-file limit is %d (ulimit -n), and "
        "the server keeps %d descriptors for itself",
        wanted,
        cap,
        soft,
        OWN_DESCRIPTORS,
    )
    return cap

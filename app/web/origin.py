"""Only our own pages may play: a Host and Origin check in front of every route.

Browsers let any website open a websocket to 127.0.0.1, and a DNS-rebinding page can even send
`Host: evil.example` to it; without this check a page on the web could start games (and, with the
federation lab, burn the server's CPU). The rules:
- `Host` must name this server: a loopback name, the address it is bound to, or the host of an
  origin in `Settings.allowed_origins` (`TYCOON_ALLOWED_ORIGINS`).
- `Origin`, when a browser sends one on a websocket upgrade or a state-changing request, must be
  the page's own origin (`http(s)://` + that Host) or one of `allowed_origins`.
Clients that send no Origin (curl, scripts, tests) are not browsers and pass the Origin rule.
Refusals are HTTP 403 with the reason in plain text.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_WILDCARDS = frozenset({"0.0.0.0", "::", ""})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _hostname(host: str) -> str:
    """`name:port` or `[v6]:port` -> name (lowercase, no brackets)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class OriginPolicy:
    """Which Host and Origin headers this server accepts."""

    def __init__(self, bind_host: str, allowed_origins: Iterable[str]) -> None:
        self.origins = frozenset(o.rstrip("/").lower() for o in allowed_origins)
        hosts = set(LOOPBACK_HOSTS)
        if bind_host.lower() not in _WILDCARDS:
            hosts.add(_hostname(bind_host))
        hosts.update(_hostname(urlsplit(o).netloc) for o in self.origins)
        self.hosts = frozenset(hosts)

    def refusal(self, host: str | None, origin: str | None, check_origin: bool) -> str | None:
        """Why a request is refused, or None when it may go on."""
        if not host:
            return "refused: the request has no Host header"
        if _hostname(host) not in self.hosts:
            return (
                f"refused: Host {host!r} is not this server (it answers to "
                f"{', '.join(sorted(self.hosts))}; add others with TYCOON_ALLOWED_ORIGINS)"
            )
        if not check_origin or origin is None:
            return None
        origin = origin.rstrip("/").lower()
        if origin in self.origins or origin in (
            f"http://{host.lower()}",
            f"https://{host.lower()}",
        ):
            return None
        return (
            f"refused: pages from {origin} may not use this server (only its own pages and "
            "TYCOON_ALLOWED_ORIGINS may)"
        )


class OriginGuard:
    """ASGI middleware applying an `OriginPolicy` to HTTP requests and websocket upgrades."""

    def __init__(self, app: ASGIApp, policy: OriginPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        is_ws = scope["type"] == "websocket"
        check_origin = is_ws or scope.get("method", "GET") not in _SAFE_METHODS
        reason = self.policy.refusal(headers.get("host"), headers.get("origin"), check_origin)
        if reason is None:
            await self.app(scope, receive, send)
            return
        response = PlainTextResponse(reason, status_code=403)
        if not is_ws:
            await response(scope, receive, send)
        elif "websocket.http.response" in scope.get("extensions", {}):
            await WebSocket(scope, receive, send).send_denial_response(response)
        else:  # a server without denial responses: closing before accept is a 403 too
            await send({"type": "websocket.close", "code": 1008, "reason": reason[:120]})

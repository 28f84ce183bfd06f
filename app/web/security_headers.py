"""Headers every response carries: what the browser may load and run, framing, and caching.

Why: without them any website could frame the dashboard (clickjacking its buttons), a sniffed
content type could turn a served file into a script, and a page URL (with its `?session=`) could
leak to other sites in the Referer. The pages load only their own files (everything is vendored
under static/), so the policy is `'self'`:
- scripts: 'self' only; /docs adds the hash of Swagger UI's one inline start-up script;
- styles: 'self' plus inline ones (lab.html has a <style> block and style attributes);
- images: 'self' and data: (the pages' icon is an inline SVG);
- connections: 'self' and websockets (ws:, wss:), as older browsers do not count same-origin
  websockets as 'self'; framing: nowhere (`frame-ancestors 'none'`, `X-Frame-Options: DENY`).
Static files may be cached (vendored libraries longer than ours, which change between
versions); pages and the API are `no-store`, as they carry live state.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC_CACHE = "public, max-age=3600"
VENDOR_CACHE = "public, max-age=604800"  # a week: third-party files, replaced only on upgrade
NO_STORE = "no-store"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def content_security_policy(script_hashes: Iterable[str] = ()) -> str:
    """The policy, allowing also the inline scripts with these `sha256-...` hashes."""
    scripts = " ".join(["'self'", *(f"'{h}'" for h in script_hashes)])
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {scripts}",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self' data:",
            "connect-src 'self' ws: wss:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def inline_script_hashes(html: str) -> list[str]:
    """The CSP hashes (`sha256-...`) of the inline <script> elements of `html`."""
    return [
        "sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        for body in _INLINE_SCRIPT.findall(html)
    ]


def cache_control(path: str) -> str:
    if path.startswith("/static/vendor/"):
        return VENDOR_CACHE
    if path.startswith("/static/"):
        return STATIC_CACHE
    return NO_STORE


class SecurityHeaders:
    """ASGI middleware adding the headers above to every HTTP response that lacks them.

    A route may set its own `Content-Security-Policy` (as /docs does) or `Cache-Control`.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.policy = content_security_policy()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cache = cache_control(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", self.policy)
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
                headers.setdefault("Cache-Control", cache)
            await send(message)

        await self.app(scope, receive, send_with_headers)

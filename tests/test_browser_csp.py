"""The pages under their Content-Security-Policy, in a real browser (chromium, Playwright).

Each page is opened with a listener for `securitypolicyviolation` events installed before any
of its scripts run, and must do its work (the dashboard gets its snapshot, the compare page its
first progress frame, the lab opens its websocket, /docs draws the API's operations) with no
violation and no console error. A page of another origin framing the dashboard gets nothing.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import test_browser as tb

browser = tb.browser
server_url = tb.server_url

_WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI}`);
});
"""

_LAB_SOCKET_OPENS = """
() => new Promise((opened, failed) => {
  const ws = new WebSocket(`ws://${location.host}/ws/lab`);
  ws.onopen = () => { ws.close(); opened(true); };
  ws.onerror = () => failed(new Error("the lab's websocket did not open"));
})
"""

PAGES = {
    "": "window.__tycoon && window.__tycoon.stats.snapshots >= 1",
    "compare": "window.__compare && window.__compare.frames.length >= 1",
    "lab": "window.__lab !== undefined && !!document.querySelector('#lab-form')",
    "docs": "document.querySelectorAll('.opblock').length >= 5",
}


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport=tb.VIEWPORT)
    ctx.add_init_script(_WATCH)
    yield ctx
    ctx.close()


@pytest.mark.parametrize("path", list(PAGES))
def test_the_page_works_under_the_policy(context: Any, server_url: str, path: str) -> None:
    page = context.new_page()
    d = tb.Dashboard(page)  # collects console errors (a blocked resource is one) and page errors
    response = page.goto(f"{server_url}{path}")
    assert (
        response is not None
        and "frame-ancestors 'none'" in response.headers["content-security-policy"]
    )
    page.wait_for_function(f"() => {PAGES[path]}", timeout=tb.LONG_WAIT_MS)
    if path == "lab":  # the lab opens its socket on demand: open one as it would
        assert page.evaluate(_LAB_SOCKET_OPENS) is True
    page.wait_for_timeout(300)  # time for a late violation report to be dispatched
    assert page.evaluate("window.__csp") == []
    assert d.problems == []


@pytest.fixture
def framing_site(server_url: str) -> Iterator[str]:
    """Another origin on loopback (a plain HTTP server on another port) whose page frames the
    dashboard and marks its body once the frame has loaded (or failed to)."""
    page = (
        f'<iframe src="{server_url}" onload="document.body.dataset.framed = 1"></iframe>'.encode()
    )

    class Framing(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Framing)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{site.server_address[1]}/"
    site.shutdown()
    site.server_close()


def test_another_site_cannot_frame_the_dashboard(
    context: Any, server_url: str, framing_site: str
) -> None:
    page = context.new_page()
    page.goto(framing_site)
    page.wait_for_function("() => document.body.dataset.framed === '1'")
    (frame,) = [f for f in page.frames if f != page.main_frame]
    assert frame.url != server_url  # the browser showed its error page instead
    assert frame.evaluate("typeof window.__tycoon") == "undefined"

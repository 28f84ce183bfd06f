"""The API docs page works offline: Swagger UI's assets come from this server, nothing else."""

from __future__ import annotations

import shutil
from urllib.parse import urlparse

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Debian chromium is not installed")
def test_docs_render_with_no_request_leaving_loopback(live_server: str) -> None:
    from playwright.sync_api import sync_playwright

    requested: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.goto(f"http://{live_server}/docs")
            # Swagger UI drew the API from /openapi.json: the title and an operation are there.
            page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
            assert "Turbofan Tycoon" in page.inner_text(".swagger-ui .info .title")
            page.wait_for_selector('.opblock-summary-path[data-path="/api/health"]', timeout=30_000)
        finally:
            browser.close()
    hosts = {urlparse(url).hostname for url in requested if not url.startswith("data:")}
    assert hosts == {"127.0.0.1"}, requested
    assert any(url.endswith("/openapi.json") for url in requested)
    assert any("/static/vendor/swagger-ui/swagger-ui-bundle.js" in url for url in requested)

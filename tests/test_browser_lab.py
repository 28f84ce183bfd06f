"""The Federation Lab view in a real browser (Debian's chromium through Playwright), real server.

The game's dashboard and the lab open in one browser context, so the lab finds the game's session
id where the dashboard keeps it (localStorage `tycoon.session`), as a player's two tabs would.
Every check reads what the page received from the server (`window.__lab`, `window.__tycoon`);
a run is a small FF09 federation, which trains in a fraction of a second.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import test_browser as tb

playwright_sync = tb.playwright_sync
expect = playwright_sync.expect
pytestmark = tb.pytestmark

browser = tb.browser
server_url = tb.server_url


class Tabs:
    """A browser context with a dashboard tab and a lab tab, and every address they asked for."""

    def __init__(self, browser: Any, server_url: str) -> None:
        # bypass_csp: wait_for_function evaluates strings (see tests/test_browser.py)
        self.context = browser.new_context(viewport=tb.VIEWPORT, bypass_csp=True)
        self.urls: list[str] = []
        self.context.on("request", lambda request: self.urls.append(request.url))
        self.game = self._open(f"{server_url}")
        self.game.page.wait_for_function("window.__tycoon && window.__tycoon.stats.snapshots >= 1")
        self.lab = self._open(f"{server_url}lab")
        self.lab.page.wait_for_function("window.__lab !== undefined")

    def _open(self, url: str) -> tb.Dashboard:
        page = self.context.new_page()
        page.on("websocket", lambda ws: self.urls.append(ws.url))
        d = tb.Dashboard(page)
        page.goto(url)
        return d

    def close(self) -> None:
        problems = self.game.problems + self.lab.problems
        self.context.close()
        assert problems == [], "the pages logged errors:\n" + "\n".join(problems)


@pytest.fixture
def tabs(browser: Any, server_url: str) -> Iterator[Tabs]:
    t = Tabs(browser, server_url)
    yield t
    t.close()


def _set(page: Any, name: str, value: str) -> None:
    field = page.locator(f"#lab-form [name={name}]")
    if field.evaluate("el => el.tagName") == "SELECT":
        field.select_option(value)
    else:
        field.fill(value)


def test_the_lab_trains_a_federation_live_and_deploys_it_into_the_game(tabs: Tabs) -> None:
    page = tabs.lab.page
    assert page.title().startswith("Federation Lab")
    expect(page.get_by_role("link", name="Back to the game")).to_have_attribute("href", "/")
    for name, value in {"model": "ff09", "nodes": "12", "rounds": "3"}.items():
        _set(page, name, value)
    tabs.lab.by_id("lab-start").click()
    page.wait_for_function("window.__lab.status === 'finished'", timeout=tb.LONG_WAIT_MS)
    lab = page.evaluate("window.__lab")
    assert lab["config"]["nodes"] == 12 and lab["config"]["model"] == "ff09"
    assert [r["round"] for r in lab["rounds"]] == [1, 2, 3]
    # every chart got its points: one per round, two per round for the sawtooth
    assert lab["charts"] == {"rmse": 3, "loss": 6, "cost": 3}
    for chart in ("chart-rmse", "chart-loss", "chart-cost"):
        expect(tabs.lab.by_id(chart).locator("canvas")).to_have_count(1)
        expect(tabs.lab.by_id(chart)).to_have_attribute(
            "aria-label", re.compile("round 3", re.IGNORECASE)
        )
    cells = tabs.lab.by_id("lab-grid").locator(".node")
    expect(cells).to_have_count(12)
    expect(cells.first).to_have_class("node s-participated")
    expect(tabs.lab.by_id("lab-counts")).to_contain_text("Round 3: 12 participated")
    expect(tabs.lab.by_id("lab-final")).to_contain_text("test RMSE")
    # Deploy: the game in the other tab now runs the lab's model.
    game = tabs.game.page
    assert game.evaluate("window.__tycoon.game.state.federated_model") == "default"
    expect(tabs.game.by_id("federated-model")).to_be_hidden()
    tabs.lab.by_id("lab-deploy").click()
    page.wait_for_function("window.__lab.deployed || window.__lab.check", timeout=tb.LONG_WAIT_MS)
    if page.evaluate("!window.__lab.deployed"):  # it earns less than the default: asked first
        tabs.lab.by_id("lab-deploy-anyway").click()
        page.wait_for_function("!!window.__lab.deployed", timeout=tb.LONG_WAIT_MS)
    deployed = page.evaluate("window.__lab.deployed")
    assert deployed["session"] == game.evaluate("localStorage.getItem('tycoon.session')")
    expect(tabs.lab.by_id("lab-figures")).to_be_visible()
    expect(page.locator("#fig-lab")).to_have_text(f"{deployed['percent_of_oracle']:.1f}%")
    tabs.game.wait_state(f"s.federated_model === {deployed['model']!r}")
    # ... and says so beside the strategy buttons
    expect(tabs.game.by_id("federated-model")).to_have_text(
        f"Federated strategy's model: {deployed['model']}"
    )
    # ... with the lab model's own margin, the one the game's decision now subtracts: in the
    # strategy chart's legend and beside the Models panel's (default) figures
    margins = game.evaluate("window.__tycoon.game.state.margins")
    final = page.evaluate("window.__lab.final")
    if margins["decision"] == "calibrated" and final.get("calibration"):
        assert margins["federated"] == pytest.approx(final["calibration"]["margin"])
        margin = f"{margins['federated']:.2f}".rstrip("0").rstrip(".")
        expect(tabs.game.by_id("legend-fed-bound")).to_have_text(
            f"federated lower bound (prediction − margin {margin})"
        )
    expect(tabs.game.by_id("model-deployed")).to_contain_text(deployed["model"])
    # nothing left this machine
    hosts = {urlsplit(url).hostname for url in tabs.urls if not url.startswith("data:")}
    assert hosts == {"127.0.0.1"}, tabs.urls


def test_the_lab_names_the_wrong_field_and_can_cancel(tabs: Tabs) -> None:
    page = tabs.lab.page
    _set(page, "nodes", "9000")
    tabs.lab.by_id("lab-start").click()
    error = tabs.lab.by_id("lab-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("nodes")
    expect(page.locator("#lab-form [name=nodes]")).to_have_attribute("aria-invalid", "true")
    for name, value in {"model": "ff09", "nodes": "8", "rounds": "500"}.items():
        _set(page, name, value)
    tabs.lab.by_id("lab-start").click()
    page.wait_for_function("window.__lab.rounds.length >= 2", timeout=tb.LONG_WAIT_MS)
    expect(error).to_be_hidden()
    tabs.lab.by_id("lab-pause").click()
    page.wait_for_function("window.__lab.status === 'paused'")
    expect(tabs.lab.by_id("lab-pause")).to_have_text("Resume")
    done = page.evaluate("window.__lab.rounds.length")
    tabs.lab.by_id("lab-step").click()
    page.wait_for_function(f"window.__lab.rounds.length >= {done + 1}")
    tabs.lab.by_id("lab-cancel").click()
    page.wait_for_function("window.__lab.status === 'cancelled'")
    expect(tabs.lab.by_id("lab-start")).to_be_enabled()


def test_the_lab_draws_the_privacy_spent_beside_the_rmse(tabs: Tabs) -> None:
    page = tabs.lab.page
    settings = {"model": "ff09", "nodes": "10", "rounds": "3", "sample_fraction": "0.6"}
    settings |= {"dp_noise": "1", "dp_clip": "0.5", "compression": "int8"}
    for name, value in settings.items():
        _set(page, name, value)
    tabs.lab.by_id("lab-start").click()
    page.wait_for_function("window.__lab.status === 'finished'", timeout=tb.LONG_WAIT_MS)
    lab = page.evaluate("window.__lab")
    assert lab["config"]["dp_noise"] == 1 and lab["config"]["compression"] == "int8"
    eps = [r["epsilon"] for r in lab["rounds"]]
    assert 0 < eps[0] < eps[-1]
    expect(tabs.lab.by_id("chart-rmse")).to_have_attribute(
        "aria-label", re.compile(f"privacy spent epsilon {eps[-1]:.2f}")
    )
    expect(tabs.lab.by_id("lab-final")).to_contain_text("Privacy: (ε")
    # secure aggregation is a checkbox; with a robust rule the server says they do not compose
    page.locator("#lab-form [name=secure_aggregation]").check()
    _set(page, "aggregation", "median")
    tabs.lab.by_id("lab-start").click()
    expect(tabs.lab.by_id("lab-error")).to_contain_text("secure aggregation")

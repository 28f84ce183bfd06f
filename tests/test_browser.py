"""The dashboard in a real browser: Debian's chromium driven by Playwright, against the real server.

uvicorn serves the app on a free loopback port in a thread; each test opens the page in a fresh
browser tab (so a fresh game session) and fails on any console error or page error.

`TYCOON_SCREENSHOT=path.png pytest tests/test_browser.py` also saves a screenshot of a running
game there (docs/screenshot.png in the README was made this way); every run leaves one in
test-results/ (ignored by git).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

playwright_sync = pytest.importorskip("playwright.sync_api")

# Debian's chromium (`make browser` installs it); never a browser downloaded by Playwright.
CHROMIUM = os.environ.get("TYCOON_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1600, "height": 1000}
ROOT = Path(__file__).resolve().parent.parent

# Hang guards only (a broken page fails the test instead of blocking the suite), never a
# measure of speed.
WAIT_MS = 20_000
LONG_WAIT_MS = 90_000  # for what takes hundreds of ticks at 50x

STRATEGIES = ["corrective", "preventative", "local", "federated"]

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM} (run `make browser`)"
)


@pytest.fixture(scope="module")
def browser_game_models(game_models: Any) -> Any:
    """The real held-out engines and trained models (tests/conftest.py)."""
    return game_models


@pytest.fixture(scope="module")
def server_url(live_server: str) -> str:
    """The real server of tests/conftest.py, serving the real models."""
    return f"http://{live_server}/"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Dashboard:
    """One open dashboard tab, with what it logged."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda err: self.problems.append(f"page error: {err}"))
        page.set_default_timeout(WAIT_MS)

    def _console(self, msg: Any) -> None:
        if msg.type == "error":
            self.problems.append(f"console error: {msg.text}")

    def by_id(self, testid: str) -> Any:
        return self.page.get_by_test_id(testid)

    def state(self) -> dict:
        """The latest game state the page received from the server."""
        return self.page.evaluate("window.__tycoon.game.state")

    def wait_state(self, predicate_js: str, timeout_ms: int = WAIT_MS) -> None:
        """Wait until `predicate_js` (an expression over `s`, the latest state) holds."""
        self.page.wait_for_function(
            f"(() => {{ const s = window.__tycoon.game.state; return !!s && ({predicate_js}); }})()",
            timeout=timeout_ms,
        )

    def player(self) -> dict:
        return next(f for f in self.state()["factories"] if f["is_player"])


@pytest.fixture
def dash(browser: Any, server_url: str) -> Iterator[Dashboard]:
    page = browser.new_page(viewport=VIEWPORT)
    d = Dashboard(page)
    page.goto(server_url)
    page.wait_for_function("window.__tycoon && window.__tycoon.stats.snapshots >= 1")
    d.by_id("slot-0").wait_for()
    yield d
    problems = list(d.problems)
    page.close()
    assert problems == [], "the page logged errors:\n" + "\n".join(problems)


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


# ---------------------------------------------------------------- tests


def test_page_shows_slots_sensor_charts_scoreboard_and_models(
    dash: Dashboard, browser_game_models: Any
) -> None:
    page = dash.page
    assert page.title() == "Turbofan Tycoon"
    state = dash.state()
    player = dash.player()
    assert len(player["slots"]) == 4

    slots = page.locator("[data-testid^=slot-]").filter(has=page.locator(".sensors"))
    assert slots.count() == 4
    for i in range(4):
        slot = dash.by_id(f"slot-{i}")
        assert slot.get_by_test_id("sensor-chart").count() == 16
        assert slot.locator("[data-testid=strategy-chart] canvas").count() == 1
        assert slot.locator(".sensors canvas").count() == 1
        assert dash.by_id(f"slot-engine-{i}").inner_text() == player["slots"][i]["engine_id"]
        assert (
            dash.by_id(f"slot-status-{i}")
            .inner_text()
            .lower()
            .startswith(player["slots"][i]["status"])
        )

    # Scoreboard: the player and three competitors, each with a profit cell.
    rows = page.locator("[data-testid=scoreboard] tbody tr")
    assert rows.count() == len(state["factories"]) == 4
    for f in state["factories"]:
        assert dash.by_id(f"profit-{slug(f['name'])}").is_visible()
        assert dash.by_id(f"failures-{slug(f['name'])}").inner_text() == str(f["failures"])
    assert page.locator("tr.player").count() == 1

    # Charts: profit over time and the federated learning curve are drawn.
    assert dash.by_id("profit-chart").locator("canvas").count() == 1
    assert dash.by_id("curve-chart").locator("canvas").count() == 1

    # Model panel: the engine's RMSE figures, as the server sent them.
    metrics = browser_game_models.metrics
    for key in ("naive", "centralized", "local", "federated"):
        shown = float(dash.by_id(f"rmse-{key}").inner_text())
        assert shown == pytest.approx(metrics[f"{key}_rmse"], abs=0.051)

    # Controls and texts.
    for name in STRATEGIES:
        assert dash.by_id(f"strategy-btn-{name}").is_visible()
    assert dash.by_id("unlock-rules").locator("li").count() >= 3
    assert dash.by_id("banner").is_hidden()
    assert dash.by_id("conn").inner_text().lower() == "live"


def test_locked_strategies_show_their_unlock_hint_and_free_play_unlocks_them(
    dash: Dashboard,
) -> None:
    state = dash.state()
    assert not state["free_play"]
    locked = [s for s in STRATEGIES if s not in state["unlocked"]]
    assert locked, "a new game starts with locked strategies"
    for name in STRATEGIES:
        button = dash.by_id(f"strategy-btn-{name}")
        if name in locked:
            assert button.is_disabled()
            assert "Locked" in (button.get_attribute("title") or "")
        else:
            assert button.is_enabled()

    dash.page.locator("label.switch").click()  # the free-play switch
    dash.wait_state("s.free_play === true")
    for name in STRATEGIES:
        expect_enabled(dash.by_id(f"strategy-btn-{name}"))
    assert dash.by_id("free-play").is_checked()


def expect_enabled(locator: Any) -> None:
    playwright_sync.expect(locator).to_be_enabled(timeout=WAIT_MS)


def test_choosing_a_strategy_is_confirmed_by_the_server(dash: Dashboard) -> None:
    dash.page.locator("label.switch").click()
    dash.wait_state("s.free_play === true")
    player_slug = slug(dash.player()["name"])
    for name, shown in (("federated", "Federated"), ("preventative", "Preventative")):
        button = dash.by_id(f"strategy-btn-{name}")
        expect_enabled(button)
        button.click()
        dash.wait_state(f"s.factories.find(f => f.is_player).strategy === '{name}'")
        playwright_sync.expect(button).to_have_attribute("aria-pressed", "true")
        playwright_sync.expect(dash.by_id(f"strategy-{player_slug}")).to_have_text(shown)
        others = [s for s in STRATEGIES if s != name]
        for other in others:
            assert dash.by_id(f"strategy-btn-{other}").get_attribute("aria-pressed") == "false"


def test_unlocks_through_play_hire_and_federation_offers(dash: Dashboard) -> None:
    """Without free play: failures unlock preventative, then the offers appear as buttons."""
    page = dash.page
    hire = dash.by_id("hire-btn")
    join = dash.by_id("federation-btn")
    assert hire.is_hidden() and join.is_hidden()
    page.get_by_test_id("speed").select_option("50")
    # Corrective only: engines run to failure until preventative unlocks and a hire is offered.
    dash.wait_state("s.offers.hire_data_scientist", LONG_WAIT_MS)
    playwright_sync.expect(hire).to_be_visible()
    expect_enabled(dash.by_id("strategy-btn-preventative"))
    assert dash.by_id("strategy-btn-local").is_disabled()
    hire.click()
    dash.wait_state("s.unlocked.includes('local') && !s.offers.hire_data_scientist")
    playwright_sync.expect(hire).to_be_hidden()
    dash.by_id("strategy-btn-local").click()
    # Cycles on local predictive bring the federation offer.
    dash.wait_state("s.offers.federation", LONG_WAIT_MS)
    playwright_sync.expect(join).to_be_visible()
    assert dash.by_id("strategy-btn-federated").is_disabled()
    join.click()
    dash.wait_state("s.unlocked.includes('federated') && !s.offers.federation")
    playwright_sync.expect(join).to_be_hidden()
    dash.by_id("strategy-btn-federated").click()
    dash.wait_state("s.factories.find(f => f.is_player).strategy === 'federated'")
    page.get_by_test_id("speed").select_option("0")
    dash.wait_state("!s.running")
    kinds = {e["kind"] for e in dash.state()["events"]}
    assert "unlock" in kinds or "offer" in kinds


def test_speed_pause_and_step(dash: Dashboard) -> None:
    page = dash.page
    page.get_by_test_id("speed").select_option("50")
    dash.wait_state("s.running && s.ticks_per_second === 50")
    playwright_sync.expect(dash.by_id("speed-readout")).to_contain_text("50x")
    start = dash.state()["tick"]
    dash.wait_state(f"s.tick >= {start + 25}")

    page.get_by_test_id("speed").select_option("0")  # pause
    dash.wait_state("!s.running")
    playwright_sync.expect(dash.by_id("speed-readout")).to_contain_text("paused")
    paused_at = dash.state()["tick"]
    page.wait_for_timeout(400)
    assert dash.state()["tick"] == paused_at

    dash.by_id("step-btn").click()
    dash.wait_state(f"s.tick === {paused_at + 1}")
    playwright_sync.expect(dash.by_id("tick")).to_have_text(str(paused_at + 1))

    dash.by_id("pause-btn").click()  # resume
    dash.wait_state("s.running")
    dash.by_id("pause-btn").click()  # pause again
    dash.wait_state("!s.running")


def test_profit_updates_over_time_at_full_speed(dash: Dashboard) -> None:
    page = dash.page
    player_slug = slug(dash.player()["name"])
    profit_cell = dash.by_id(f"profit-{player_slug}")
    before = profit_cell.inner_text()
    page.get_by_test_id("speed").select_option("50")
    dash.wait_state("s.tick >= 60")
    # The scoreboard follows the server's figures, and the profit chart has a point per tick.
    page.wait_for_function(
        f"document.querySelector('[data-testid=profit-{player_slug}]').textContent !== {before!r}"
    )
    page.get_by_test_id("speed").select_option("0")
    dash.wait_state("!s.running")
    page.wait_for_timeout(100)  # let the last frame render
    player = dash.player()
    assert profit_cell.inner_text() == f"${player['profit']:,.0f}".replace("$-", "-$")
    assert player["profit"] != 0
    history = page.evaluate("window.__tycoon.game.history")
    assert len(history["tick"]) >= 60
    assert history["tick"] == sorted(history["tick"])
    # Rendering is batched per animation frame: JS work per frame stays small even at 50x.
    render_ms = sorted(page.evaluate("window.__tycoon.stats.renderMs"))
    assert render_ms and render_ms[len(render_ms) // 2] < 50


def test_connection_loss_shows_a_banner_and_reconnects(dash: Dashboard) -> None:
    page = dash.page
    snapshots = page.evaluate("window.__tycoon.stats.snapshots")
    page.evaluate("window.__tycoon.connection.ws.close()")
    playwright_sync.expect(dash.by_id("banner")).to_be_visible()
    playwright_sync.expect(dash.by_id("banner")).to_contain_text("Reconnecting")
    # The backoff retries and a new session greets the page with a fresh snapshot.
    page.wait_for_function(f"window.__tycoon.stats.snapshots > {snapshots}")
    playwright_sync.expect(dash.by_id("banner")).to_be_hidden()
    playwright_sync.expect(dash.by_id("conn")).to_have_text("live")


def test_reset_with_a_seed_starts_a_new_game(dash: Dashboard) -> None:
    page = dash.page
    page.get_by_test_id("speed").select_option("50")
    dash.wait_state("s.tick >= 20")
    page.get_by_test_id("seed-input").fill("1234")
    dash.by_id("reset-btn").click()
    dash.wait_state("s.seed === 1234 && s.tick < 20")
    playwright_sync.expect(dash.by_id("seed")).to_have_text("1234")


def test_a_rejected_command_shows_the_servers_error(dash: Dashboard) -> None:
    # A locked strategy, asked for directly (its button is disabled): the server refuses.
    locked = [s for s in STRATEGIES if s not in dash.state()["unlocked"]]
    dash.page.evaluate(
        f"window.__tycoon.connection.send({{type: 'set_strategy', strategy: '{locked[-1]}'}})"
    )
    playwright_sync.expect(dash.page.get_by_test_id("error-toast").first).to_be_visible()
    assert dash.page.evaluate("window.__tycoon.stats.errors.length") >= 1


def test_a_long_game_at_full_speed_then_a_screenshot(dash: Dashboard) -> None:
    """Hundreds of ticks at 50x through engine changes, maintenances and failures: no errors."""
    page = dash.page
    page.locator("label.switch").click()
    dash.wait_state("s.free_play === true")
    dash.by_id("strategy-btn-federated").click()
    dash.wait_state("s.factories.find(f => f.is_player).strategy === 'federated'")
    page.get_by_test_id("speed").select_option("50")
    page.wait_for_function(
        "(() => { const s = window.__tycoon.game.state;"
        " return s.tick >= 320 && s.factories.every(f => f.maintenances + f.failures > 0); })()",
        timeout=LONG_WAIT_MS,
    )
    page.get_by_test_id("speed").select_option("0")
    dash.wait_state("!s.running")
    page.wait_for_timeout(200)  # let the last frame render
    assert page.locator("[data-testid=events] li").count() > 0
    assert all(f["active_cycles"] > 0 for f in dash.state()["factories"])
    save_screenshot(page, "dashboard.png")


# ---------------------------------------------------------------- screenshot


def save_screenshot(page: Any, name: str) -> None:
    """Always into test-results/; also where TYCOON_SCREENSHOT says (e.g. docs/screenshot.png)."""
    out = ROOT / "test-results"
    out.mkdir(exist_ok=True)
    page.screenshot(path=str(out / name))
    target = os.environ.get("TYCOON_SCREENSHOT")
    if target:
        path = Path(target)
        if not path.is_absolute():
            path = ROOT / path
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path))

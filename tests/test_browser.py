"""The dashboard in a real browser: Debian's chromium driven by Playwright, against the real server.

uvicorn serves the app on a free loopback port in a thread; each test opens the page in a fresh
browser tab (so a fresh game session) and fails on any console error or page error.

Every assertion is about the state the server sent (`window.__tycoon.game.state`) or what the page
shows for it, checked after pausing or by waiting for a condition with a generous timeout: no
test depends on how fast the machine is. Speed (render time, frame rate) is measured by
`bench/browser_fps.py`, never asserted here.

`TYCOON_SCREENSHOT=path.png pytest tests/test_browser.py` also saves a screenshot of a running
game there (docs/screenshot.png in the README was made this way); every run leaves one in
test-results/ (ignored by git).
"""

from __future__ import annotations

import itertools
import os
import re
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
PHONE = {"width": 390, "height": 844}
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


def open_dashboard(browser: Any, server_url: str, viewport: dict) -> Dashboard:
    # bypass_csp: Playwright evaluates wait_for_function predicates as strings, which the
    # pages' CSP forbids (no unsafe-eval); tests/test_browser_csp.py checks the policy itself.
    page = browser.new_page(viewport=viewport, bypass_csp=True)
    d = Dashboard(page)
    page.goto(server_url)
    page.wait_for_function("window.__tycoon && window.__tycoon.stats.snapshots >= 1")
    d.by_id("slot-0").wait_for()
    return d


def close_dashboard(d: Dashboard) -> None:
    problems = list(d.problems)
    d.page.close()
    assert problems == [], "the page logged errors:\n" + "\n".join(problems)


@pytest.fixture
def dash(browser: Any, server_url: str) -> Iterator[Dashboard]:
    d = open_dashboard(browser, server_url, VIEWPORT)
    yield d
    close_dashboard(d)


@pytest.fixture
def phone(browser: Any, server_url: str) -> Iterator[Dashboard]:
    d = open_dashboard(browser, server_url, PHONE)
    yield d
    close_dashboard(d)


def pause(d: Dashboard) -> None:
    """Pause through the speed box and wait for the server to confirm it."""
    d.page.get_by_test_id("speed").select_option("0")
    d.wait_state("!s.running")


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


# ---------------------------------------------------------------- tests


def test_page_shows_slots_sensor_charts_scoreboard_and_models(
    dash: Dashboard, browser_game_models: Any
) -> None:
    page = dash.page
    assert page.title() == "Turbofan Tycoon"
    pause(dash)  # the page shows a state that no longer changes
    playwright_sync.expect(dash.by_id("tick")).to_have_text(str(dash.state()["tick"]))
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
        assert slot.get_by_test_id("sensor-grid").count() == 1
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
            # Locked, yet focusable and clickable (aria-disabled, not the disabled attribute).
            assert button.is_disabled()
            assert button.get_attribute("aria-disabled") == "true"
            assert button.get_attribute("disabled") is None
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
    pause(dash)
    player = dash.player()
    playwright_sync.expect(profit_cell).to_have_text(
        f"${player['profit']:,.0f}".replace("$-", "-$"), timeout=WAIT_MS
    )
    assert player["profit"] != 0
    history = page.evaluate("window.__tycoon.game.history")
    # A client that falls behind skips states (the server sends the latest), so the number of
    # points at 50x depends on the machine: ticks only increase, and end at the latest tick.
    assert history["tick"][0] == 0
    assert len(history["tick"]) >= 2
    assert all(a < b for a, b in itertools.pairwise(history["tick"]))
    # The chart's data: one point per tick, up to the latest tick, each factory's profit there.
    assert history["tick"][-1] == dash.state()["tick"]
    for name, series in zip(history["names"], history["series"], strict=True):
        latest = next(f for f in dash.state()["factories"] if f["name"] == name)
        assert series[-1] == pytest.approx(latest["profit"])
    # One point per tick: each step adds exactly the point of its tick.
    paused_at = dash.state()["tick"]
    for k in range(1, 4):
        dash.by_id("step-btn").click()
        dash.wait_state(f"s.tick === {paused_at + k}")
    page.wait_for_function(
        f"window.__tycoon.game.history.tick.at(-1) === {paused_at + 3}", timeout=WAIT_MS
    )
    ticks = page.evaluate("window.__tycoon.game.history.tick.slice(-4)")
    assert ticks == [paused_at, paused_at + 1, paused_at + 2, paused_at + 3]
    # Render time at 50x is measured by bench/browser_fps.py, not asserted here.


RECORD_BANNER_JS = """() => {
  const banner = document.querySelector('[data-testid=banner]');
  const seen = (window.__banner = []);
  const record = () => seen.push({visible: banner.checkVisibility(), text: banner.textContent});
  new MutationObserver(record).observe(
    banner, {attributes: true, childList: true, characterData: true, subtree: true});
}"""


def test_connection_loss_shows_a_banner_and_reconnects(dash: Dashboard) -> None:
    page = dash.page
    snapshots = page.evaluate("window.__tycoon.stats.snapshots")
    # The banner shows for as long as the reconnect takes (about half a second): record what it
    # shows, so a busy machine cannot make the check miss it.
    page.evaluate(RECORD_BANNER_JS)
    page.evaluate("window.__tycoon.connection.ws.close()")
    # The backoff retries and a new session greets the page with a fresh snapshot.
    page.wait_for_function(f"window.__tycoon.stats.snapshots > {snapshots}")
    shown = page.evaluate("window.__banner")
    assert any(b["visible"] and "Reconnecting" in b["text"] for b in shown), shown
    playwright_sync.expect(dash.by_id("banner")).to_be_hidden()
    playwright_sync.expect(dash.by_id("conn")).to_have_text("live")


def test_reset_with_a_seed_starts_a_new_game(dash: Dashboard) -> None:
    page = dash.page
    page.get_by_test_id("speed").select_option("50")
    dash.wait_state("s.tick >= 20")
    pause(dash)  # paused, the new game stays at tick 0: nothing here races the clock
    games = page.evaluate("window.__tycoon.stats.games")
    page.get_by_test_id("seed-input").fill("1234")
    new_game = page.get_by_role("button", name="New game")  # the reset button's name
    assert new_game.get_attribute("data-testid") == "reset-btn"
    new_game.click()
    dash.wait_state("s.seed === 1234 && s.tick === 0")
    assert page.evaluate("window.__tycoon.stats.games") == games + 1
    assert page.evaluate("window.__tycoon.game.history.tick") == [0]
    playwright_sync.expect(dash.by_id("seed")).to_have_text("1234")
    playwright_sync.expect(dash.by_id("tick")).to_have_text("0")


def test_a_rejected_command_shows_the_servers_error(dash: Dashboard) -> None:
    # A locked strategy, asked for directly (its button only explains the lock): the server
    # refuses.
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
    pause(dash)
    playwright_sync.expect(dash.by_id("tick")).to_have_text(str(dash.state()["tick"]))
    assert page.locator("[data-testid=events] li").count() > 0
    assert all(f["active_cycles"] > 0 for f in dash.state()["factories"])
    save_screenshot(page, "dashboard.png")


# ---------------------------------------------------------------- newcomer papercuts


def test_enter_in_the_seed_box_resets_with_that_seed(dash: Dashboard) -> None:
    page = dash.page
    pause(dash)
    dash.by_id("step-btn").click()
    dash.wait_state("s.tick >= 1")
    box = dash.by_id("seed-input")
    box.fill("1234")
    box.press("Enter")
    dash.wait_state("s.seed === 1234 && s.tick === 0")
    playwright_sync.expect(dash.by_id("seed")).to_have_text("1234")
    assert dash.by_id("seed-error").is_hidden()
    assert page.evaluate("window.__tycoon.stats.errors") == []


def test_random_seed_button_resets_to_a_new_random_seed(dash: Dashboard) -> None:
    page = dash.page
    pause(dash)
    dash.by_id("step-btn").click()
    dash.wait_state("s.tick >= 1")
    seeds = {dash.state()["seed"]}
    for _ in range(2):
        snapshots = page.evaluate("window.__tycoon.stats.snapshots")
        dash.by_id("random-seed-btn").click()
        page.wait_for_function(f"window.__tycoon.stats.snapshots > {snapshots}")
        dash.wait_state("s.tick === 0")
        seed = dash.state()["seed"]
        assert 0 <= seed <= 2**32 - 1
        assert seed not in seeds  # a repeat has odds of 2**-32
        seeds.add(seed)
        playwright_sync.expect(dash.by_id("seed")).to_have_text(str(seed))
        assert dash.by_id("seed-input").input_value() == str(seed)
    assert page.evaluate("window.__tycoon.stats.errors") == []


SEED_MESSAGE = "Seed must be a whole number from 0 to 4294967295."


def test_a_seed_out_of_range_gets_a_short_message_not_a_reset(dash: Dashboard) -> None:
    page = dash.page
    pause(dash)
    seed = dash.state()["seed"]
    games = page.evaluate("window.__tycoon.stats.games")
    box = dash.by_id("seed-input")
    message = dash.by_id("seed-error")
    for raw in ("4294967296", "-1", "1.5", "12abc", "1e3", "99999999999999999999"):
        box.fill(raw)
        playwright_sync.expect(message).to_be_hidden()  # editing clears the last message
        box.press("Enter")
        playwright_sync.expect(message).to_be_visible()
        playwright_sync.expect(message).to_have_text(SEED_MESSAGE)
        assert box.get_attribute("aria-invalid") == "true"
    dash.by_id("reset-btn").click()  # the Reset button checks the same way
    playwright_sync.expect(message).to_have_text(SEED_MESSAGE)
    # Nothing was sent: no new game, and no raw validation text from the server.
    page.wait_for_timeout(300)
    assert page.evaluate("window.__tycoon.stats.games") == games
    assert page.evaluate("window.__tycoon.stats.errors") == []
    assert page.get_by_test_id("error-toast").count() == 0
    assert dash.state()["seed"] == seed
    # The largest seed is fine.
    box.fill("4294967295")
    box.press("Enter")
    dash.wait_state("s.seed === 4294967295 && s.tick === 0")
    playwright_sync.expect(message).to_be_hidden()
    assert box.get_attribute("aria-invalid") is None


# Every state the page ingests (from snapshots and delta frames alike), less repeats of the same
# tick and pace (a keyframe repeating the state is not a tick).
RECORD_FRAMES_JS = """() => {
  const frames = (window.__frames = []);
  window.__tycoon.store.subscribe('state', (s) => {
    const last = frames.at(-1);
    if (!last || last.tick !== s.tick || last.running !== s.running) {
      frames.push({tick: s.tick, running: s.running});
    }
  });
}"""


def test_step_while_running_pauses_and_plays_exactly_one_tick(dash: Dashboard) -> None:
    page = dash.page
    page.get_by_test_id("speed").select_option("20")
    dash.wait_state("s.running && s.ticks_per_second === 20 && s.tick >= 3")
    page.evaluate(RECORD_FRAMES_JS)
    dash.by_id("step-btn").click()
    page.wait_for_function(
        "window.__frames.filter(f => f.running === false).length >= 2", timeout=WAIT_MS
    )
    page.wait_for_timeout(500)  # time for any extra tick to show up (none may)
    frames = page.evaluate("window.__frames")
    paused = [f for f in frames if f["running"] is False]
    # The server confirmed the pause at some tick P, then played exactly tick P + 1, paused.
    assert len(paused) == 2, frames
    assert paused[1]["tick"] == paused[0]["tick"] + 1, frames
    # Nothing ran after the pause, nor after the step.
    first_paused = frames.index(paused[0])
    assert frames[first_paused:] == paused, frames
    state = dash.state()
    assert not state["running"] and state["tick"] == paused[1]["tick"]
    playwright_sync.expect(dash.by_id("tick")).to_have_text(str(state["tick"]))
    playwright_sync.expect(dash.by_id("speed-readout")).to_contain_text("paused")
    assert dash.by_id("pause-btn").inner_text() == "Resume"


def test_clicking_a_locked_strategy_says_how_to_unlock_it(dash: Dashboard) -> None:
    page = dash.page
    pause(dash)
    state = dash.state()
    config = page.evaluate("window.__tycoon.game.config")
    hints = {s["name"]: (s["label"], s["unlock_hint"]) for s in config["strategies"]}
    locked = [s for s in STRATEGIES if s not in state["unlocked"]]
    assert len(locked) >= 2
    first, second = locked[0], locked[1]
    # A mouse click: Playwright would wait for an "enabled" button, so the click is forced.
    dash.by_id(f"strategy-btn-{first}").click(force=True)
    label, hint = hints[first]
    note = page.get_by_test_id("info-toast").filter(has_text=hint)
    playwright_sync.expect(note).to_be_visible()
    playwright_sync.expect(note).to_contain_text(f"{label} is locked")
    # The keyboard: the locked button takes focus, and Enter explains it too.
    button = dash.by_id(f"strategy-btn-{second}")
    button.focus()
    assert page.evaluate("document.activeElement.dataset.testid") == f"strategy-btn-{second}"
    page.keyboard.press("Enter")
    playwright_sync.expect(
        page.get_by_test_id("info-toast").filter(has_text=hints[second][1])
    ).to_be_visible()
    # Nothing was asked of the server: no refusal, the strategy is unchanged.
    page.wait_for_timeout(300)
    assert page.evaluate("window.__tycoon.stats.errors") == []
    assert dash.player()["strategy"] == state["factories"][0]["strategy"]


def test_a_new_event_is_announced_in_the_live_region(dash: Dashboard) -> None:
    page = dash.page
    pause(dash)
    live = dash.by_id("events-live")
    assert live.get_attribute("aria-live") == "polite"
    before = len(dash.state()["events"])
    page.locator("label.switch").click()  # free play: the server logs it as an event
    dash.wait_state(f"s.events.length > {before} && s.events.at(-1).kind === 'free_play'")
    message = dash.state()["events"][-1]["message"]
    playwright_sync.expect(live).to_contain_text(message, timeout=WAIT_MS)
    # It is in the visible log too, newest first.
    playwright_sync.expect(page.locator("[data-testid=events] li").first).to_contain_text(message)


def test_phone_width_puts_the_scoreboard_first_with_every_column_and_no_overflow(
    phone: Dashboard,
) -> None:
    page = phone.page
    page.get_by_test_id("speed").select_option("50")
    phone.wait_state("s.tick >= 30")
    pause(phone)
    playwright_sync.expect(phone.by_id("tick")).to_have_text(str(phone.state()["tick"]))
    sizes = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert sizes[0] <= sizes[1] == PHONE["width"], sizes

    def box(testid: str) -> dict:
        return phone.by_id(testid).bounding_box()

    slots_top = box("slot-0")["y"]
    assert box("scoreboard")["y"] + box("scoreboard")["height"] <= slots_top
    assert box("profit-chart")["y"] + box("profit-chart")["height"] <= slots_top
    assert box("scoreboard")["y"] < box("profit-chart")["y"]
    # Every column of every row is inside the panel and shows its whole text.
    cells = page.evaluate(
        """() => {
          const table = document.querySelector('[data-testid=scoreboard]');
          const panel = table.closest('.panel').getBoundingClientRect();
          return [...table.querySelectorAll('tr')].map(tr => [...tr.children].map(c => {
            const r = c.getBoundingClientRect();
            return {text: c.textContent, left: r.left, right: r.right, width: r.width,
                    fits: c.scrollWidth <= c.clientWidth + 1,
                    inside: r.left >= panel.left && r.right <= panel.right};
          }));
        }"""
    )
    assert len(cells) == 1 + len(phone.state()["factories"])
    for row in cells:
        assert len(row) == 7
        for cell in row:
            assert cell["width"] > 0 and cell["inside"] and cell["fits"], (cell, row)
    header = [c["text"] for c in cells[0]]
    assert header == ["#", "Factory", "Strategy", "Profit", "Cycles", "Maint.", "Fail."]
    player = phone.player()
    playwright_sync.expect(phone.by_id(f"profit-{slug(player['name'])}")).to_have_text(
        f"${player['profit']:,.0f}".replace("$-", "-$")
    )


def test_help_text_comes_from_the_config(dash: Dashboard, server_url: str) -> None:
    page = dash.page
    config = page.request.get(server_url + "api/config").json()
    state = dash.state()
    competitors = [f["name"] for f in state["factories"] if not f["is_player"]]
    words = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    slots_word = words[config["n_slots"]]
    # Rendered by the template, before any script runs.
    html = page.request.get(server_url).text()
    assert f'runs <span data-count="slots">{slots_word}</span> turbofan engines' in html
    help_text = " ".join(dash.by_id("competitors").inner_text().split())
    n = config.get("n_competitors", len(competitors))
    assert n == len(competitors)
    noun = "competitor factory races" if n == 1 else "competitor factories race"
    assert help_text.lower().startswith(f"{words[n]} {noun} you")
    for name in config.get("competitor_names", competitors):
        assert name in help_text
    text = page.locator("#help").inner_text()
    assert "trained on your factory's own engines" in text
    assert "Three competitor" not in text or n == 3
    assert f"${config['revenue_per_cycle']:,.0f}" in text
    assert f"{len(config['feature_names'])} sensor and setting channels" in text
    rules = dash.by_id("unlock-rules").locator("li").all_inner_texts()
    assert rules == config["unlock_rules"]


def test_profit_axis_ticks_never_share_a_label(dash: Dashboard) -> None:
    ticks = dash.page.evaluate(
        """async () => {
          const { moneyTicks } = await import('/static/js/format.js');
          const out = {example: moneyTicks([0, 500, 1000, 1500, 2000], 500), sets: []};
          for (const step of [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2000, 2500, 5000,
                              1e4, 2.5e4, 5e4, 1e5, 2e5, 2.5e5, 5e5, 1e6, 2.5e6]) {
            for (const start of [-8 * step, -3 * step, 0, 7 * step]) {
              const splits = Array.from({length: 6}, (_, i) => start + i * step);
              out.sets.push({splits, labels: moneyTicks(splits, step)});
            }
          }
          return out;
        }"""
    )
    assert ticks["example"] == ["$0", "$0.5k", "$1k", "$1.5k", "$2k"]
    for case in ticks["sets"]:
        assert len(set(case["labels"])) == len(case["splits"]), case
        for value, label in zip(case["splits"], case["labels"], strict=True):
            assert label.startswith("-$" if value < 0 else "$"), case


# ---------------------------------------------------------------- accessibility


def test_every_chart_has_a_text_alternative_that_follows_the_game(dash: Dashboard) -> None:
    page = dash.page
    page.get_by_test_id("speed").select_option("50")
    dash.wait_state("s.tick >= 20")
    pause(dash)
    charts = page.locator(
        "[data-testid=profit-chart], [data-testid=curve-chart],"
        " [data-testid=strategy-chart], [data-testid=sensor-grid]"
    )
    n_slots = len(dash.player()["slots"])
    assert charts.count() == 2 + 2 * n_slots
    for i in range(charts.count()):
        chart = charts.nth(i)
        assert chart.get_attribute("role") == "img"
        assert (chart.get_attribute("aria-label") or "").strip()
    state = dash.state()
    # The summaries follow the latest state (updated at most once a second: waited for).
    profit = dash.by_id("profit-chart")
    playwright_sync.expect(profit).to_have_attribute(
        "aria-label", re.compile(rf"tick {state['tick']}:"), timeout=WAIT_MS
    )
    label = profit.get_attribute("aria-label")
    for f in state["factories"]:
        assert f["name"] in label
    for i, view in enumerate(dash.player()["slots"]):
        slot = dash.by_id(f"slot-{i}")
        playwright_sync.expect(slot.get_by_test_id("strategy-chart")).to_have_attribute(
            "aria-label",
            re.compile(rf"engine {re.escape(view['engine_id'])}: cycle {view['cycle']} "),
        )
        assert view["engine_id"] in slot.get_by_test_id("sensor-grid").get_attribute("aria-label")
    curve = dash.by_id("curve-chart").get_attribute("aria-label")
    assert curve.startswith("Federated learning curve")


CONTROLS = [
    "pause-btn",
    "step-btn",
    "speed",
    "seed-input",
    "reset-btn",
    "random-seed-btn",
    "free-play",
]

FOCUS_JS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  // The free-play switch hides its checkbox: the ring is drawn on the switch's track.
  const ringEl = el.id === 'free-play' ? el.nextElementSibling : el;
  const cs = getComputedStyle(ringEl);
  const r = ringEl.getBoundingClientRect();
  return {
    testid: el.dataset.testid || el.id,
    focusVisible: el.matches(':focus-visible'),
    outline: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2,
    outlineColor: cs.outlineColor,
    onScreen: r.width > 0 && r.height > 0 && r.bottom > 0 && r.right > 0
      && r.top < innerHeight && r.left < innerWidth,
  };
}"""


def test_keyboard_reaches_every_control_with_a_visible_focus_ring(dash: Dashboard) -> None:
    page = dash.page
    pause(dash)
    wanted = [*CONTROLS, *(f"strategy-btn-{s}" for s in STRATEGIES)]
    page.evaluate("document.activeElement && document.activeElement.blur()")
    order: list[str] = []
    for _ in range(60):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUS_JS)
        if focused is None:
            continue
        name = focused["testid"]
        if name in order:
            break
        order.append(name)
        if name in wanted:
            assert focused["focusVisible"], focused
            assert focused["outline"], focused
            assert focused["onScreen"], focused
    missing = [w for w in wanted if w not in order]
    assert not missing, f"not reached with Tab: {missing} (order: {order})"
    # Logical order: the controls left to right, then the strategies.
    assert [o for o in order if o in wanted] == wanted


CONTRAST_JS = r"""() => {
  const parse = (c) => {
    const m = /rgba?\(([^)]+)\)/.exec(c || '');
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(parseFloat);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, bottom) => {  // `top` (with alpha) composited over opaque `bottom`
    const a = top[3];
    return [0, 1, 2].map(i => top[i] * a + bottom[i] * (1 - a)).concat(1);
  };
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const ratio = (a, b) => {
    const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  // The backgrounds the text can sit on: the ancestors' colours, composited from the first opaque
  // one up; a gradient counts with each of its colours.
  const backgrounds = (el) => {
    const layers = [];
    for (let n = el; n; n = n.parentElement) {
      const cs = getComputedStyle(n);
      const color = parse(cs.backgroundColor);
      const stops = (cs.backgroundImage.match(/rgba?\([^)]+\)/g) || []).map(parse);
      layers.push({color, stops});
      if (color && color[3] >= 1) break;
    }
    let cands = [[255, 255, 255, 1]];
    for (const layer of layers.reverse()) {
      if (layer.color && layer.color[3] > 0) cands = cands.map(c => over(layer.color, c));
      if (layer.stops.length) cands = cands.flatMap(c => layer.stops.map(s => over(s, c)));
    }
    return cands;
  };
  const opacity = (el) => {
    let o = 1;
    for (let n = el; n; n = n.parentElement) o *= parseFloat(getComputedStyle(n).opacity);
    return o;
  };
  const clippedAway = (el) => {
    let r = el.getBoundingClientRect();
    if (r.width < 2 || r.height < 2) return true;
    let [l, t, rt, b] = [r.left, r.top, r.right, r.bottom];
    for (let n = el.parentElement; n; n = n.parentElement) {
      const cs = getComputedStyle(n);
      if (cs.overflow === 'visible' && cs.clipPath === 'none' && cs.clip === 'auto') continue;
      const p = n.getBoundingClientRect();
      [l, t, rt, b] = [Math.max(l, p.left), Math.max(t, p.top), Math.min(rt, p.right), Math.min(b, p.bottom)];
      if (rt - l < 2 || b - t < 2) return true;
    }
    return false;
  };
  const results = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (['SCRIPT', 'STYLE', 'TEMPLATE', 'OPTION', 'svg'].includes(el.tagName)) continue;
    const isField = el.tagName === 'INPUT' && el.type === 'text' || el.tagName === 'SELECT';
    const ownText = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!ownText && !isField) continue;
    if (!el.checkVisibility({visibilityProperty: true, opacityProperty: true})) continue;
    if (clippedAway(el)) continue;
    let fg = parse(getComputedStyle(el).color);
    let text = (el.textContent || '').trim().slice(0, 40);
    if (el.tagName === 'INPUT' && !el.value) {
      fg = parse(getComputedStyle(el, '::placeholder').color);
      text = 'placeholder: ' + el.placeholder;
    }
    const fgA = [fg[0], fg[1], fg[2], fg[3] * opacity(el)];
    const worst = Math.min(...backgrounds(el).map(bg => ratio(over(fgA, bg), bg)));
    results.push({text, id: el.id || el.className || el.tagName, ratio: worst,
                  color: getComputedStyle(el).color});
  }
  return results;
}"""


def check_contrast(d: Dashboard, where: str) -> list[dict]:
    results = d.page.evaluate(CONTRAST_JS)
    low = [r for r in results if r["ratio"] < 4.5]
    assert not low, f"text below 4.5:1 contrast ({where}):\n" + "\n".join(
        f"{r['ratio']:.2f} {r['color']} {r['id']!r}: {r['text']!r}" for r in low
    )
    return results


def test_text_contrast_is_at_least_4_5_to_1_everywhere(dash: Dashboard) -> None:
    """Every visible text on the page, in a busy game, wide and at phone width."""
    page = dash.page
    # Corrective play until failures bring the hire offer and a slot is down.
    page.get_by_test_id("speed").select_option("50")
    dash.wait_state(
        "s.offers.hire_data_scientist"
        " && s.factories.find(f => f.is_player).slots.some(x => x.status !== 'running')",
        LONG_WAIT_MS,
    )
    pause(dash)
    playwright_sync.expect(dash.by_id("hire-btn")).to_be_visible()
    assert page.locator(".slot[data-status=down], .slot[data-status=maintenance]").count() >= 1
    # The transient texts too: an unlock hint, a server refusal, the seed message.
    locked = [s for s in STRATEGIES if s not in dash.state()["unlocked"]]
    dash.by_id(f"strategy-btn-{locked[-1]}").click(force=True)
    page.evaluate(
        f"window.__tycoon.connection.send({{type: 'set_strategy', strategy: '{locked[-1]}'}})"
    )
    dash.by_id("seed-input").fill("-5")
    dash.by_id("seed-input").press("Enter")
    playwright_sync.expect(page.get_by_test_id("error-toast").first).to_be_visible()
    playwright_sync.expect(page.get_by_test_id("info-toast").first).to_be_visible()
    playwright_sync.expect(dash.by_id("seed-error")).to_be_visible()
    results = check_contrast(dash, "1600 px")
    texts = " ".join(r["text"] for r in results)
    for sample in ("Scoreboard", "How to play", "Seed must be", "is locked", "Hire"):
        assert sample in texts, f"{sample!r} was not checked"
    dash.by_id("seed-input").fill("")  # placeholder text
    check_contrast(dash, "1600 px, empty seed box")
    page.set_viewport_size(PHONE)
    page.wait_for_function(f"document.documentElement.clientWidth === {PHONE['width']}")
    check_contrast(dash, "390 px")


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

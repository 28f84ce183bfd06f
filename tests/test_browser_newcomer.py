"""The dashboard for a newcomer (issue 21), in a real browser against the real server.

What a first-time player needs on the first screen: the season's goal and each factory's way to
it, a tip toward the speed control at once, offers that say what they give and ask and are
announced in view on a phone, a ghost sentence that does not claim the player joined anything in
free play, and whole readouts (a ten-digit seed, "offline" when no frame can come). The
fixtures are tests/test_browser.py's; no assertion depends on how fast the machine is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import test_browser as tb

expect = tb.playwright_sync.expect
pytestmark = tb.pytestmark

browser = tb.browser
server_url = tb.server_url

GOAL = "$3,000,000"


@pytest.fixture
def dash(browser: Any, server_url: str) -> Iterator[tb.Dashboard]:
    d = tb.open_dashboard(browser, server_url, tb.VIEWPORT)
    yield d
    tb.close_dashboard(d)


@pytest.fixture
def phone(browser: Any, server_url: str) -> Iterator[tb.Dashboard]:
    d = tb.open_dashboard(browser, server_url, tb.PHONE)
    yield d
    tb.close_dashboard(d)


def in_view(d: tb.Dashboard, testid: str) -> bool:
    box = d.by_id(testid).bounding_box()
    size = d.page.viewport_size
    return (
        box is not None
        and box["y"] >= 0
        and box["x"] >= 0
        and box["y"] + box["height"] <= size["height"]
        and box["x"] + box["width"] <= size["width"]
    )


def test_the_goal_and_every_factorys_progress_are_on_the_first_screen(dash: tb.Dashboard) -> None:
    state = dash.state()
    assert state["season"]["goal"] == 3_000_000
    goal = dash.by_id("season-goal")
    expect(goal).to_have_text(f"The first factory to reach {GOAL} in profit wins the season.")
    assert in_view(dash, "season-goal")
    bars = dash.page.locator("[data-testid=race] [role=progressbar]")
    assert bars.count() == len(state["factories"])
    for f in state["factories"]:
        assert in_view(dash, f"race-bar-{tb.slug(f['name'])}")
    expect(dash.by_id("help-goal")).to_contain_text(f"the first factory to reach {GOAL}")
    expect(dash.by_id("help-goal")).to_contain_text("wins the season")
    # The bars follow the profits (paused: the page shows a state that no longer changes).
    dash.page.get_by_test_id("speed").select_option("50")
    dash.wait_state("s.factories.some(f => f.profit > 30000)", tb.LONG_WAIT_MS)
    tb.pause(dash)
    for f in dash.state()["factories"]:
        bar = dash.by_id(f"race-bar-{tb.slug(f['name'])}")
        share = max(0.0, min(1.0, f["profit"] / 3_000_000))
        expect(bar).to_have_attribute("aria-valuenow", f"{share * 100:.1f}")
        money = f"${f['profit']:,.0f}".replace("$-", "-$")
        expect(bar).to_have_attribute("aria-valuetext", re.compile(re.escape(f"{money} of {GOAL}")))


def test_the_speed_tip_shows_at_once_and_its_button_speeds_the_game(dash: tb.Dashboard) -> None:
    page = dash.page
    assert dash.state()["ticks_per_second"] < 10  # the server's default speed
    hint = dash.by_id("speed-hint")
    expect(hint).to_be_visible(timeout=10_000)
    assert hint.get_attribute("role") == "status"
    expect(dash.by_id("speed-hint-text")).to_contain_text("at least 3,000 ticks")
    fast = dash.by_id("speed-hint-50")
    fast.focus()
    assert page.evaluate("document.activeElement.dataset.testid") == "speed-hint-50"
    page.keyboard.press("Enter")
    dash.wait_state("s.running && s.ticks_per_second === 50")
    expect(hint).to_be_hidden()
    expect(dash.by_id("speed")).to_have_value("50")
    expect(dash.by_id("speed-readout")).to_contain_text("50x")
    # Back to a slow speed: the tip does not nag again.
    page.get_by_test_id("speed").select_option("2")
    dash.wait_state("s.running && s.ticks_per_second === 2")
    expect(hint).to_be_hidden()
    assert page.evaluate("localStorage.getItem('tycoon.speedTip')") == "done"


# Records the first tick each unlock or offer was seen at, from every state the page ingests.
RECORD_JS = """() => {
  window.__firsts = {};
  window.__tycoon.store.subscribe('state', (s) => {
    const f = window.__firsts;
    if (f.preventative === undefined && s.unlocked.includes('preventative')) f.preventative = s.tick;
    if (f.hire === undefined && s.offers.hire_data_scientist) f.hire = s.tick;
  });
}"""


def test_a_phone_announces_the_hire_offer_in_view(phone: tb.Dashboard) -> None:
    page = phone.page
    page.evaluate(RECORD_JS)
    page.get_by_test_id("speed").select_option("50")
    phone.wait_state("s.offers.hire_data_scientist", tb.LONG_WAIT_MS)
    tb.pause(phone)
    # The offer comes after the preventative unlock, not on its tick.
    firsts = page.evaluate("window.__firsts")
    assert firsts["hire"] > firsts["preventative"], firsts
    # The offer's card is below the fold on a phone; the toast says so in view.
    assert not in_view(phone, "hire-offer")
    toast = page.get_by_test_id("offer-toast")
    expect(toast).to_be_visible()
    assert toast.get_attribute("role") == "status"
    assert in_view(phone, "offer-toast")
    expect(toast).to_contain_text("data scientist")
    page.get_by_test_id("offer-toast-show").click()
    expect(phone.by_id("hire-btn")).to_be_focused()
    page.wait_for_function(
        "(() => { const r = document.querySelector('[data-testid=hire-btn]')"
        ".getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; })()"
    )
    # What it gives and what it costs, then the choice shows on the factory's card.
    node = phone.player()["node"]
    text = phone.by_id("hire-offer-text")
    expect(text).to_contain_text(f"your factory's own engines only (node {node})")
    expect(text).to_contain_text("It costs nothing")
    expect(phone.by_id("factory-card")).to_be_hidden()
    phone.by_id("hire-btn").click()
    phone.wait_state("s.unlocked.includes('local') && !s.offers.hire_data_scientist")
    expect(phone.by_id("hire-offer")).to_be_hidden()
    expect(phone.by_id("factory-card")).to_contain_text(
        f"Data scientist on staff: your local model learns from node {node}'s engines only."
    )


def test_the_ghost_in_free_play_says_whose_local_it_is(dash: tb.Dashboard) -> None:
    page = dash.page
    tb.pause(dash)
    page.locator("label.switch").click()
    dash.wait_state("s.free_play === true")
    dash.by_id("strategy-btn-federated").click()
    dash.wait_state("!!s.ghost")
    ghost = dash.state()["ghost"]
    sentence = dash.by_id("ghost-gain")
    expect(sentence).to_contain_text(
        f"your own local model (node {ghost['node']}) would have since you first chose "
        f"federated (tick {ghost['since_tick']})."
    )
    assert "since you joined" not in sentence.inner_text()
    expect(dash.by_id("factory-card")).to_contain_text("Free play")
    # Solo Sensors Inc. is on local too, with its own node's model: the note says whose is whose.
    solo = next(f for f in dash.state()["factories"] if f["strategy"] == "local")
    note = dash.by_id("ghost-note")
    expect(note).to_contain_text(f"your factory on its own local model (node {ghost['node']}")
    expect(note).to_contain_text(f"not {solo['name']}'s (node {solo['node']})")
    expect(dash.by_id("legend-ghost")).to_contain_text("your own local model")


def test_whole_readouts_a_ten_digit_seed_offline_and_hover_values(dash: tb.Dashboard) -> None:
    page = dash.page
    tb.pause(dash)
    dash.by_id("seed-input").fill("4294967295")
    dash.by_id("seed-input").press("Enter")
    dash.wait_state("s.seed === 4294967295 && s.tick === 0")
    seed = dash.by_id("seed")
    expect(seed).to_have_text("4294967295")
    assert page.evaluate(
        "(() => { const e = document.getElementById('seed');"
        " return e.scrollWidth <= e.clientWidth; })()"
    )
    # Offline, the speed readout says so (not the last state's speed).
    page.get_by_test_id("speed").select_option("20")
    dash.wait_state("s.running && s.ticks_per_second === 20 && s.tick >= 5")
    expect(dash.by_id("speed-readout")).to_contain_text("20x")
    page.evaluate(
        "window.__tycoon.store.setConnection({state: 'closed', reason: 'test',"
        " retryAt: Date.now() + 60000, attempt: 1})"
    )
    expect(dash.by_id("speed-readout")).to_have_text("❚❚ offline")
    page.evaluate("window.__tycoon.store.setConnection({state: 'open'})")
    expect(dash.by_id("speed-readout")).to_contain_text("20x")
    tb.pause(dash)
    # Hovering the profit chart shows each line's value at that tick in the legend.
    chart = dash.by_id("profit-chart")
    box = chart.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.5)
    tick = dash.by_id("profit-hover-tick")
    expect(tick).to_be_visible()
    shown = page.evaluate(
        """(() => {
          const u = window.__tycoon.charts.profit();
          const i = u.cursor.idx;
          return {tick: u.data[0][i], first: u.data[1][i]};
        })()"""
    )
    expect(tick).to_have_text(f"tick {shown['tick']}:")
    first = f" ${shown['first']:,.0f}".replace("$-", "-$")
    expect(dash.by_id("legend-value-0")).to_have_text(first)
    page.mouse.move(1, 1)
    expect(tick).to_be_hidden()
    # The preventative threshold is drawn dash-dot in its own colour, unlike a prediction.
    swatches = page.evaluate(
        """(() => ['lg-prev', 'lg-local'].map(c => {
          const s = getComputedStyle(document.querySelector('.' + c), '::before');
          return [s.backgroundImage, s.borderTopStyle, s.borderTopColor];
        }))()"""
    )
    assert "repeating-linear-gradient" in swatches[0][0] and swatches[1][1] == "solid", swatches

"""The saved game in a real browser: a reload resumes it, "New game" starts over, the watchdog
reconnects when the frames stop, refusals stay bounded, and delta frames are patched as
docs/protocol.md says. Real server, real frames (tests/conftest.py), Debian's chromium.

Also reports (prints, never asserts) the page's frame rate at 50 ticks/s.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import test_browser as tb

playwright_sync = tb.playwright_sync
expect = playwright_sync.expect

pytestmark = tb.pytestmark

# The shared fixtures of the dashboard's browser tests.
browser = tb.browser
server_url = tb.server_url

SESSION_KEY = "tycoon.session"


@pytest.fixture
def dash(browser: Any, server_url: str) -> Iterator[tb.Dashboard]:
    d = tb.open_dashboard(browser, server_url, tb.VIEWPORT)
    yield d
    tb.close_dashboard(d)


def wait_loaded(d: tb.Dashboard) -> None:
    d.page.wait_for_function("window.__tycoon && window.__tycoon.stats.snapshots >= 1")
    d.by_id("slot-0").wait_for()


def next_frame(d: tb.Dashboard) -> None:
    """Return once the page has drawn what it has received (two animation frames later)."""
    d.page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def stored_session(d: tb.Dashboard) -> str | None:
    return d.page.evaluate(f"localStorage.getItem({SESSION_KEY!r})")


# ---------------------------------------------------------------- resuming and starting over


def test_a_reload_resumes_the_game_and_new_game_starts_over(dash: tb.Dashboard) -> None:
    page = dash.page
    page.get_by_test_id("speed").select_option("50")
    dash.wait_state("s.tick >= 30", tb.LONG_WAIT_MS)
    tb.pause(dash)
    played = dash.state()
    session = page.evaluate("window.__tycoon.game.sessionId")
    assert session and stored_session(dash) == session

    page.reload()
    wait_loaded(dash)
    state = dash.state()
    # The same game: same session and seed, the tick did not go back to 0 (the server may lose
    # about a second of play after a crash, never more than was played).
    assert page.evaluate("window.__tycoon.game.sessionId") == session
    assert state["seed"] == played["seed"]
    assert 0 < state["tick"] <= played["tick"]
    expect(dash.by_id("tick")).to_have_text(str(state["tick"]))
    toast = page.get_by_test_id("session-toast")
    expect(toast).to_contain_text(f"Resumed your game at tick {state['tick']}")
    # The history came back with the game: it ends at the resumed tick.
    assert page.evaluate("window.__tycoon.game.history.tick.at(-1)") == state["tick"]

    # "New game" (the button's name; it keeps the seed box's behaviour) starts over at tick 0.
    tb.pause(dash)  # paused, the new game stays at tick 0
    new_game = page.get_by_role("button", name="New game")
    expect(new_game).to_be_visible()
    games = page.evaluate("window.__tycoon.stats.games")
    new_game.click()
    dash.wait_state("s.tick === 0")
    assert page.evaluate("window.__tycoon.stats.games") == games + 1
    expect(dash.by_id("tick")).to_have_text("0")
    assert page.evaluate("window.__tycoon.game.history.tick") == [0]
    assert dash.state()["seed"] == played["seed"]  # an empty seed box: the same seed
    assert stored_session(dash) == session  # the same saved game, started over

    # What is saved now is the new game: a reload resumes it at its tick.
    tick = dash.state()["tick"]
    page.reload()
    wait_loaded(dash)
    assert page.evaluate("window.__tycoon.game.sessionId") == session
    assert dash.state()["tick"] <= max(tick, 1) < played["tick"]


def test_an_unknown_session_gets_a_new_game_and_the_servers_notice(
    browser: Any, server_url: str
) -> None:
    unknown = "no-such-game-0123456789abcdef"
    page = browser.new_page(viewport=tb.VIEWPORT, bypass_csp=True)  # see tests/test_browser.py
    d = tb.Dashboard(page)
    try:
        page.add_init_script(f"localStorage.setItem({SESSION_KEY!r}, {unknown!r})")
        requested: list[str] = []
        page.on("websocket", lambda ws: requested.append(ws.url))
        page.goto(server_url)
        wait_loaded(d)
        assert any(f"session={unknown}" in url for url in requested), requested
        session = page.evaluate("window.__tycoon.game.sessionId")
        assert session and session != unknown
        assert stored_session(d) == session
        toast = page.get_by_test_id("session-toast").first
        expect(toast).to_be_visible()
        assert "Resumed" not in toast.inner_text()
        print(f"\nthe server's notice for an unknown session: {toast.inner_text()!r}")
    finally:
        tb.close_dashboard(d)


# ---------------------------------------------------------------- the watchdog

RECORD_STATUS_JS = """() => {
  const seen = (window.__status = []);
  const pill = document.querySelector('[data-testid=conn]');
  window.__tycoon.store.subscribe('connection', (s) => seen.push(
    {state: s.state, reason: s.reason || null, at: performance.now(), pill: null}));
  new MutationObserver(() => seen.push({pill: pill.textContent, at: performance.now()}))
    .observe(pill, {childList: true, characterData: true, subtree: true});
}"""


def test_the_watchdog_reconnects_when_the_frames_stop(dash: tb.Dashboard) -> None:
    page = dash.page
    assert page.evaluate("window.__tycoon.connection.watchdogMs") == 4000
    page.get_by_test_id("speed").select_option("10")
    dash.wait_state("s.running && s.tick >= 3")
    page.evaluate(RECORD_STATUS_JS)
    snapshots = page.evaluate("window.__tycoon.stats.snapshots")
    before = dash.state()["tick"]
    # Silence: the page drops every frame from now on (until it connects again).
    muted_at = page.evaluate("(window.__tycoon.connection.muted = true, performance.now())")
    page.wait_for_function("window.__tycoon.connection.restarts >= 1", timeout=tb.WAIT_MS)
    page.wait_for_function(f"window.__tycoon.stats.snapshots > {snapshots}", timeout=tb.WAIT_MS)
    expect(dash.by_id("conn")).to_have_text("live")
    seen = page.evaluate("window.__status")
    closed = [s for s in seen if s.get("state") == "closed"]
    assert closed and closed[0]["reason"] == "silent", seen
    assert closed[0]["at"] - muted_at >= 4000 - 300, (muted_at, seen)
    pills = [s["pill"] for s in seen if s.get("pill")]
    assert "reconnecting" in pills and pills[-1] == "live", pills
    # No "live" between the watchdog closing the connection and the new one opening.
    first_closed = seen.index(closed[0])
    opened = next(i for i, s in enumerate(seen) if i > first_closed and s.get("state") == "open")
    assert all(s.get("pill") != "live" for s in seen[first_closed:opened]), seen
    assert not page.evaluate("window.__tycoon.connection.muted")
    # The same game goes on: resumed where it was, the frames flow again.
    state = dash.state()
    assert state["tick"] >= before > 0
    dash.wait_state(f"s.tick > {state['tick']}")

    # Paused, the server sends nothing, and silence is no reason to reconnect.
    tb.pause(dash)
    page.evaluate("window.__tycoon.connection.watchdogMs = 1000")
    page.evaluate("window.__tycoon.connection.muted = true")
    page.wait_for_timeout(2500)
    assert page.evaluate("window.__tycoon.connection.restarts") == 1
    expect(dash.by_id("conn")).to_have_text("live")
    page.evaluate("window.__tycoon.connection.muted = false")


# ---------------------------------------------------------------- errors


def test_refusals_are_bounded(dash: tb.Dashboard) -> None:
    page = dash.page
    tb.pause(dash)
    page.evaluate(
        "for (let i = 0; i < 100; i++) window.__tycoon.connection.send({type: 'no_such_command'})"
    )
    page.wait_for_function("window.__tycoon.stats.errors.length >= 1")
    page.wait_for_timeout(1500)  # time for every refusal to arrive
    n = page.evaluate("window.__tycoon.stats.errors.length")
    assert 1 <= n <= 50
    assert page.locator("#toasts > *").count() <= 4  # the toasts on screen are bounded too
    # The store keeps the latest 50, whatever arrives.
    kept = page.evaluate(
        """() => {
          for (let i = 0; i < 120; i++) window.__tycoon.store.ingest({type: 'error', message: `e${i}`});
          return window.__tycoon.stats.errors.slice();
        }"""
    )
    assert kept == [f"e{i}" for i in range(70, 120)]
    expect(dash.by_id("conn")).to_have_text("live")  # the connection goes on
    print(f"\n100 bad commands: {n} refusals arrived (kept at most 50)")


# ---------------------------------------------------------------- delta frames

PATCH_CASES_JS = """async (cases) => {
  const { applyPatch, patched } = await import('/static/js/delta.js');
  return cases.map(([target, patch]) => {
    const before = JSON.stringify(target);
    const copy = patched(target, patch);
    const untouched = JSON.stringify(target) === before;
    return {applied: applyPatch(structuredClone(target), patch), copy, untouched};
  });
}"""

PATCH_CASES = [
    # replace, descend, array index as a decimal string, "=" replaces whatever it holds
    ({"a": 1, "b": {"c": 2, "d": 3}}, {"a": 5, "b": {"c": 7}}, {"a": 5, "b": {"c": 7, "d": 3}}),
    (
        {"l": [{"x": 1}, {"x": 2}, {"x": 3}]},
        {"l": {"2": {"x": 9}}},
        {"l": [{"x": 1}, {"x": 2}, {"x": 9}]},
    ),
    ({"l": [1, 2, 3]}, {"l": [4]}, {"l": [4]}),
    ({"g": {"p": 1}}, {"g": None}, {"g": None}),
    ({"g": None}, {"g": {"=": {"p": 1, "q": {"r": 2}}}}, {"g": {"p": 1, "q": {"r": 2}}}),
    ({"o": {"k": 1}}, {"o": {"=": {"=": 3}}}, {"o": {"=": 3}}),
    ({"s": "a", "t": True}, {"s": "b", "t": False, "n": 0}, {"s": "b", "t": False, "n": 0}),
    ({"a": [[1, 2], [3, 4]]}, {"a": {"1": {"0": 30}}}, {"a": [[1, 2], [30, 4]]}),
    ({"a": 1}, {}, {"a": 1}),
    # "~" shifts a log: drop the first items, append the new ones
    ({"ev": [1, 2, 3, 4]}, {"ev": {"~": [2, [5, 6]]}}, {"ev": [3, 4, 5, 6]}),
    ({"ev": [{"k": 1}]}, {"ev": {"~": [0, [{"k": 2}]]}}, {"ev": [{"k": 1}, {"k": 2}]}),
    ({"s": {"ev": ["a", "b"]}}, {"s": {"ev": {"~": [1, []]}}}, {"s": {"ev": ["b"]}}),
]


def test_patches_are_applied_as_the_protocol_says(dash: tb.Dashboard) -> None:
    results = dash.page.evaluate(PATCH_CASES_JS, [[t, p] for t, p, _ in PATCH_CASES])
    for (target, patch, want), got in zip(PATCH_CASES, results, strict=True):
        assert got["applied"] == want, (target, patch)
        assert got["copy"] == want, (target, patch)
        assert got["untouched"], (target, patch)


def test_the_page_follows_the_servers_deltas_and_acknowledges_them(dash: tb.Dashboard) -> None:
    page = dash.page
    page.get_by_test_id("speed").select_option("50")
    dash.wait_state("s.tick >= 60", tb.LONG_WAIT_MS)
    tb.pause(dash)
    stats = page.evaluate("window.__tycoon.stats")
    assert stats["deltas"] > 0 and stats["acks"] > 0
    game_seq = page.evaluate("window.__tycoon.game.seq")
    assert game_seq >= stats["deltas"]
    # The patched state is the server's: after a reconnect, the snapshot of the saved game
    # (paused, so it is where it was) is the state the page made of the deltas.
    state = dash.state()
    snapshots = stats["snapshots"]
    page.evaluate(
        """() => { const c = window.__tycoon.connection; const forward = c.onMessage;
          c.onMessage = (m) => { if (m.type === 'snapshot') window.__snapshot = m; forward(m); }; }"""
    )
    page.evaluate("window.__tycoon.connection.ws.close()")
    page.wait_for_function(f"window.__tycoon.stats.snapshots > {snapshots}")
    snapshot = page.evaluate("window.__snapshot")
    assert snapshot["resumed"] is True and snapshot["seq"] == 1
    assert json.dumps(snapshot["state"], sort_keys=True) == json.dumps(state, sort_keys=True)
    # The same game goes on: not drawn afresh.
    assert page.evaluate("window.__tycoon.stats.games") == stats["games"]
    # A delta that changes nothing draws nothing.
    renders = page.evaluate("window.__tycoon.stats.renders")
    page.evaluate(
        """() => window.__tycoon.connection.ws.onmessage(new MessageEvent('message', {data:
          JSON.stringify({type: 'delta', tick: window.__tycoon.game.state.tick, patch: {},
                          points: {tick: [], profit: {}, ghost: []}})}))"""
    )
    next_frame(dash)
    assert page.evaluate("window.__tycoon.stats.renders") == renders


# ---------------------------------------------------------------- frame rate (reported)

FPS_JS = """async (ms) => {
  const t = window.__tycoon;
  const s = t.stats;
  let raf = 0, on = true;
  const loop = () => { raf += 1; if (on) requestAnimationFrame(loop); };
  requestAnimationFrame(loop);
  const start = {renders: s.renders, frames: s.frames, deltas: s.deltas, ticks: s.ticks,
                 tick: t.game.state.tick, at: performance.now()};
  s.renderMs.length = 0;
  await new Promise(r => setTimeout(r, ms));
  on = false;
  const secs = (performance.now() - start.at) / 1000;
  const ms_ = s.renderMs.slice().sort((a, b) => a - b);
  return {
    seconds: secs,
    raf_per_s: raf / secs,
    renders_per_s: (s.renders - start.renders) / secs,
    frames_per_s: (s.frames - start.frames) / secs,
    deltas_per_s: (s.deltas - start.deltas) / secs,
    points_per_s: (s.ticks - start.ticks) / secs,
    game_ticks_per_s: (t.game.state.tick - start.tick) / secs,
    render_ms_median: ms_.length ? ms_[Math.floor(ms_.length / 2)] : null,
  };
}"""


def test_report_the_frame_rate_at_speed_50(dash: tb.Dashboard) -> None:
    page = dash.page
    page.get_by_test_id("speed").select_option("50")
    dash.wait_state("s.running && s.ticks_per_second === 50 && s.tick >= 10")
    fps = page.evaluate(FPS_JS, 5000)
    tb.pause(dash)
    print(
        "\nframe rate at 50 ticks/s over {seconds:.1f} s: requestAnimationFrame {raf_per_s:.1f}/s,"
        " store renders {renders_per_s:.1f}/s (animation frames with a state {frames_per_s:.1f}/s),"
        " delta frames {deltas_per_s:.1f}/s, profit points {points_per_s:.1f}/s,"
        " game ticks {game_ticks_per_s:.1f}/s, median render {render_ms_median} ms".format(**fps)
    )

"""The dashboard's race in a real browser: the sorted scoreboard, the stay-local ghost, the
season's results dialog, the models panel's late-life errors and the link to Compare.

Real server, real frames. The season's goal ($3M) cannot be changed from a browser, so the
results dialog is driven by a delta frame made up in the page after a real tick, whose patch sets
the season's winner, handed to the page's websocket message handler: the same code path as any
frame. (It has no `seq`, so the page does not acknowledge it to the server.)
"""

from __future__ import annotations

import re
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


@pytest.fixture
def dash(browser: Any, server_url: str) -> Iterator[tb.Dashboard]:
    d = tb.open_dashboard(browser, server_url, tb.VIEWPORT)
    yield d
    tb.close_dashboard(d)


def dollars(v: float) -> str:
    return f"${v:,.0f}".replace("$-", "-$")


def ranking(factories: list[dict]) -> list[tuple[int, str]]:
    """(rank, name) by profit, highest first; ties share a rank and keep the server's order."""
    order = sorted(enumerate(factories), key=lambda p: (-p[1]["profit"], p[0]))
    out: list[tuple[int, str]] = []
    for k, (_, f) in enumerate(order):
        tied = k > 0 and f["profit"] == order[k - 1][1]["profit"]
        out.append((out[-1][0] if tied else k + 1, f["name"]))
    return out


def shown_ranking(d: tb.Dashboard) -> list[tuple[int, str]]:
    rows = d.page.locator("[data-testid=scoreboard] tbody tr")
    return [
        (
            int(rows.nth(i).locator("td.rank").inner_text()),
            rows.nth(i).get_attribute("data-factory"),
        )
        for i in range(rows.count())
    ]


def free_play_federated(d: tb.Dashboard) -> None:
    d.page.locator("label.switch").click()
    d.wait_state("s.free_play === true")
    tb.expect_enabled(d.by_id("strategy-btn-federated"))
    d.by_id("strategy-btn-federated").click()
    d.wait_state("s.factories.find(f => f.is_player).strategy === 'federated' && !!s.ghost")


def step(d: tb.Dashboard) -> None:
    tick = d.state()["tick"]
    d.by_id("step-btn").click()
    d.wait_state(f"s.tick === {tick + 1}")


# ---------------------------------------------------------------- scoreboard


def test_scoreboard_rows_are_sorted_by_profit_ties_share_a_rank(dash: tb.Dashboard) -> None:
    tb.pause(dash)
    # The ranking rule itself: 1, 2, 2, 4.
    ranks = dash.page.evaluate(
        """async () => {
          const { ranked } = await import('/static/js/store.js');
          return ranked([{profit: 3}, {profit: 5}, {profit: 3}, {profit: 1}])
            .map(r => [r.rank, r.index]);
        }"""
    )
    assert ranks == [[1, 1], [2, 0], [2, 2], [4, 3]]
    # A new game: every factory at $0 shares rank 1, in the server's order (the player first).
    dash.by_id("reset-btn").click()
    dash.wait_state("s.tick === 0")
    state = dash.state()
    expect(dash.by_id("tick")).to_have_text("0")
    assert shown_ranking(dash) == [(1, f["name"]) for f in state["factories"]]
    # Play on until the strategies part the profits. Fair draws give every factory the same
    # engines, so the two factories on corrective (the player's first strategy) stay tied.
    dash.page.get_by_test_id("speed").select_option("50")
    dash.wait_state(
        "s.tick >= 150 && new Set(s.factories.map(f => f.profit)).size >= 3", tb.LONG_WAIT_MS
    )
    tb.pause(dash)
    state = dash.state()
    expect(dash.by_id("tick")).to_have_text(str(state["tick"]))
    shown = shown_ranking(dash)
    assert shown == ranking(state["factories"])
    corrective = [f["name"] for f in state["factories"] if f["strategy"] == "corrective"]
    assert len(corrective) == 2
    rank_of = {name: rank for rank, name in shown}
    assert rank_of[corrective[0]] == rank_of[corrective[1]]  # a shared rank
    ranks = [r for r, _ in shown]
    assert ranks[0] == 1 and len(set(ranks)) == len(ranks) - 1
    for f in state["factories"]:
        name = tb.slug(f["name"])
        expect(dash.by_id(f"node-{name}")).to_have_text(f"node {f['node']}")
        expect(dash.by_id(f"profit-{name}")).to_have_text(dollars(f["profit"]))
    assert len({f["node"] for f in state["factories"]}) == len(state["factories"])


# ---------------------------------------------------------------- ghost


def test_the_stay_local_ghost_is_a_dashed_line_and_a_sentence(dash: tb.Dashboard) -> None:
    page = dash.page
    tb.pause(dash)
    assert dash.state()["ghost"] is None
    assert dash.by_id("ghost-gain").is_hidden()
    assert dash.by_id("legend-ghost").is_hidden()
    step(dash)
    free_play_federated(dash)
    since = dash.state()["ghost"]["since_tick"]
    for _ in range(3):
        step(dash)
    # Until federated decides differently the ghost earns as much: play on until it does.
    dash.page.get_by_test_id("speed").select_option("50")
    dash.wait_state("!!s.ghost && s.ghost.federated_gain !== 0", tb.LONG_WAIT_MS)
    tb.pause(dash)
    state = dash.state()
    ghost = state["ghost"]
    assert ghost["since_tick"] == since and ghost["node"] == dash.player()["node"]
    assert ghost["federated_gain"] == pytest.approx(dash.player()["profit"] - ghost["profit"])

    # The history: no ghost before it existed, its profit from then on, the latest the state's.
    page.wait_for_function(
        f"window.__tycoon.game.history.tick.at(-1) === {state['tick']}", timeout=tb.WAIT_MS
    )
    history = page.evaluate("window.__tycoon.game.history")
    assert len(history["ghost"]) == len(history["tick"])
    for tick, value in zip(history["tick"], history["ghost"], strict=True):
        assert (value is None) == (tick < since), (tick, value)
    assert history["ghost"][-1] == pytest.approx(ghost["profit"])

    # The chart draws it: its last series, dashed, with the history's points.
    chart = page.evaluate(
        """(() => {
          const u = window.__tycoon.charts.profit();
          const s = u.series.at(-1);
          return {data: u.data.at(-1), ticks: u.data[0], label: s.label, dash: s.dash,
                  n: u.series.length};
        })()"""
    )
    assert chart["label"] == "ghost" and chart["dash"]
    assert chart["n"] == 1 + len(state["factories"]) + 1
    assert chart["ticks"] == history["tick"] and chart["data"] == history["ghost"]
    expect(dash.by_id("legend-ghost")).to_be_visible()
    expect(dash.by_id("legend-ghost")).to_contain_text(ghost["name"])

    # The sentence, honest about the sign, about whose local model, and about when (in free
    # play the player never joined: the ghost starts at the first switch to federated).
    gain = ghost["federated_gain"]
    word = "more" if gain > 0 else "less"
    expected = (
        f"Federated has earned you {dollars(abs(gain))} {word} than your own local model "
        f"(node {ghost['node']}) would have since you first chose federated (tick {since})."
    )
    expect(dash.by_id("ghost-gain")).to_have_text(expected)
    expect(dash.by_id("profit-chart")).to_have_attribute(
        "aria-label",
        re.compile(rf"tick {state['tick']}: .*; {re.escape(ghost['name'])}: "),
        timeout=tb.WAIT_MS,
    )


# ---------------------------------------------------------------- season


# A delta frame on the latest real state: the season won by the richest factory, the game
# paused, no new profit points; handed to the websocket's own message handler (JSON text, as
# the server sends it). Returns the state the page made of it.
WIN_JS = """() => {
  const s = window.__tycoon.game.state;
  const best = [...s.factories].sort((a, b) => b.profit - a.profit)[0];
  const frame = {
    type: 'delta', tick: s.tick,
    patch: {season: {winner: best.name, finished_tick: s.tick}, running: false},
    points: {tick: [], profit: {}, ghost: []},
  };
  const ws = window.__tycoon.connection.ws;
  ws.onmessage(new MessageEvent('message', {data: JSON.stringify(frame)}));
  return {frame, state: window.__tycoon.game.state};
}"""


def next_frame(d: tb.Dashboard) -> None:
    """Return once the page has drawn what it has received (two animation frames later)."""
    d.page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def win(d: tb.Dashboard) -> dict:
    """Step one real tick, then hand the page that frame with the season won."""
    tick = d.state()["tick"]
    d.page.evaluate("window.__tycoon.connection.send({type: 'step'})")
    d.wait_state(f"s.tick === {tick + 1}")
    return d.page.evaluate(WIN_JS)


def test_the_season_results_dialog(dash: tb.Dashboard, server_url: str) -> None:
    page = dash.page
    tb.pause(dash)
    free_play_federated(dash)
    page.get_by_test_id("speed").select_option("50")
    dash.wait_state("s.tick >= 60", tb.LONG_WAIT_MS)
    tb.pause(dash)
    dialog = dash.by_id("season-dialog")
    assert dialog.is_hidden()
    dash.by_id("pause-btn").focus()

    frame = win(dash)
    state = frame["state"]
    winner = state["season"]["winner"]
    expect(dialog).to_be_visible()
    assert page.evaluate("window.__tycoon.season.isOpen()")
    # Focus moved into the modal dialog, and Tab keeps it there.
    assert page.evaluate("document.activeElement.dataset.testid") == "season-keep"
    for _ in range(6):
        page.keyboard.press("Tab")
        assert page.evaluate("!!document.activeElement.closest('dialog')")
    focused = page.evaluate(tb.FOCUS_JS)
    assert focused["focusVisible"] and focused["outline"], focused
    # What it says: the winner, the tick, the goal, the ranking, the ghost, the link to Compare.
    player = next(f for f in state["factories"] if f["is_player"])
    title = "You win the season!" if winner == player["name"] else f"{winner} wins the season"
    expect(dash.by_id("season-title")).to_have_text(title)
    summary = dash.by_id("season-summary").inner_text()
    goal = dollars(state["season"]["goal"])
    assert f"{winner} reached {goal} first, at tick {state['tick']}." in summary
    rows = dialog.locator("tbody tr")
    labels = {
        x["name"]: x["label"] for x in page.evaluate("window.__tycoon.game.config.strategies")
    }
    by_name = {f["name"]: f for f in state["factories"]}
    assert rows.count() == len(state["factories"])
    for i, (rank, name) in enumerate(ranking(state["factories"])):
        f = by_name[name]
        you = " (you)" if f["is_player"] else ""
        cells = rows.nth(i).locator("td, th").all_text_contents()
        assert cells == [str(rank), f"{name}{you}", labels[f["strategy"]], dollars(f["profit"])]
    ghost = state["ghost"]
    expect(dash.by_id("season-ghost")).to_contain_text(
        f"since tick {ghost['since_tick']}, you would have {dollars(ghost['profit'])}"
    )
    link = dash.by_id("season-compare")
    assert link.get_attribute("href") == f"/compare?node={player['node']}"
    checked = " ".join(r["text"] for r in tb.check_contrast(dash, "season dialog"))
    assert "Keep playing" in checked and "Had you stayed" in checked

    # Escape closes it; the game stays paused; focus goes back.
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert page.evaluate("document.activeElement.dataset.testid") == "pause-btn"
    # The same season won again (a frame repeating it): not shown again.
    win(dash)
    next_frame(dash)
    assert page.evaluate("window.__tycoon.game.state.season.winner") is not None
    assert dialog.is_hidden()
    assert not dash.state()["running"]

    # A reset starts a new season: a new win shows the results again; Keep playing resumes.
    dash.by_id("reset-btn").click()
    dash.wait_state("s.tick === 0")
    win(dash)
    expect(dialog).to_be_visible()
    dash.by_id("season-keep").click()
    expect(dialog).to_be_hidden()
    dash.wait_state("s.running")  # the server confirmed the resume
    tb.pause(dash)


# ---------------------------------------------------------------- models and Compare link


def test_models_panel_shows_the_family_and_late_life_errors(
    dash: tb.Dashboard, server_url: str
) -> None:
    page = dash.page
    tb.pause(dash)
    models = page.request.get(server_url + "api/models").json()

    def check() -> None:
        node = dash.player()["node"]
        mine = next(f for f in models["factories"] if f["node"] == node)
        expect(dash.by_id("model-family")).to_contain_text(f"Model family: {models['model']}")
        figures = {
            "late-federated": models["federated_late_life_rmse"],
            "late-centralized": models["centralized_late_life_rmse"],
            "late-local": models["local_late_life_rmse"],
            "late-yours": mine["late_life_rmse"],
            "rmse-yours": mine["rmse"],
            "rmse-local": models["local_rmse"],
        }
        for testid, value in figures.items():
            expect(dash.by_id(testid)).to_have_text(f"{value:.1f}")
        why = dash.by_id("model-why").inner_text()
        assert f"node {node}'s engines alone, by {mine['late_life_rmse']:.1f}" in why
        assert f"federated model is off by {models['federated_late_life_rmse']:.1f}" in why
        link = dash.by_id("compare-link")
        expect(link).to_have_attribute("href", f"/compare?node={node}")

    check()
    # The player's node changes with the seed: the panel and the link follow it.
    first = dash.player()["node"]
    for seed in range(1, 20):
        dash.by_id("seed-input").fill(str(seed))
        dash.by_id("reset-btn").click()
        dash.wait_state(f"s.seed === {seed} && s.tick === 0")
        if dash.player()["node"] != first:
            break
    assert dash.player()["node"] != first
    check()


def test_the_compare_link_opens_compare_marking_the_players_node(dash: tb.Dashboard) -> None:
    page = dash.page
    tb.pause(dash)
    session = page.evaluate("window.__tycoon.game.sessionId")
    assert session
    node = dash.player()["node"]
    link = dash.by_id("compare-link")
    expect(link).to_have_attribute("href", f"/compare?node={node}")
    with page.context.expect_page() as opened:
        link.click()
    other = tb.Dashboard(opened.value)
    try:
        other.page.wait_for_function(
            "window.__compare && window.__compare.status === 'done'", timeout=tb.LONG_WAIT_MS
        )
        assert other.page.evaluate("window.__compare.node") == node
        expect(other.by_id("legend-you")).to_contain_text(f"node {node}")
        marked = other.page.evaluate("window.__compare.chart.you")
        result = other.page.evaluate("window.__compare.result")
        assert [m["value"] for m in marked] == [
            s["local_by_factory"][node] for s in result["seeds"]
        ]
    finally:
        tb.close_dashboard(other)
    # The game keeps its place in its own tab: the same game and session, still connected.
    assert page.evaluate("window.__tycoon.stats.games") == 1
    assert page.evaluate("window.__tycoon.game.sessionId") == session
    assert page.evaluate("window.__tycoon.connection.open")

"""Money-aware maintenance on screen (issue 18), in a real browser (Debian's chromium through
Playwright) against the real server: each prediction's lower bound (prediction - margin) in the
slots' strategy charts, the margins and the policies' failures and % of the oracle in the Models
panel, the raw rule when the server uses it, and the lab's headline after a run.

Every expected value comes from what the server sent (`window.__tycoon`, `window.__lab`) or from
/api/models; none is written into the test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import test_browser as tb
import test_browser_lab as tl

playwright_sync = tb.playwright_sync
expect = playwright_sync.expect
pytestmark = tb.pytestmark

browser = tb.browser
server_url = tb.server_url
dash = tb.dash
tabs = tl.tabs

# The slot's strategy chart series (uPlot data indices).
CYCLE, LOCAL, FED, LOCAL_LOW, FED_LOW = 1, 2, 3, 4, 5

CHART_JS = """(i) => {
  const u = window.__tycoon.charts.strategy(i);
  return {data: u.data.map((s) => Array.from(s)),
          series: u.series.map((s) => ({label: s.label, stroke: String(s.stroke ? s.stroke() : ''),
                                        dash: s.dash || null, show: s.show}))};
}"""


def short(v: float) -> str:
    """A margin as the page writes it: at most two decimals, no trailing zeros."""
    return f"{v:.2f}".rstrip("0").rstrip(".")


def played_and_paused(d: tb.Dashboard, cycles: int = 12) -> dict:
    """Play until slot 1 has run `cycles` cycles of one engine, pause; the state the page drew."""
    d.page.get_by_test_id("speed").select_option("20")
    d.wait_state(
        "(() => { const x = s.factories.find(f => f.is_player).slots[0];"
        f" return x.status === 'running' && x.cycle >= {cycles}; }})()"
    )
    tb.pause(d)
    state = d.state()
    slot = next(f for f in state["factories"] if f["is_player"])["slots"][0]
    d.page.wait_for_function(
        f"window.__tycoon.charts.strategy(0).data[0].at(-1) === {slot['cycle']}"
    )
    return state


def test_the_strategy_chart_draws_each_predictions_lower_bound(dash: tb.Dashboard) -> None:
    state = played_and_paused(dash)
    player = next(f for f in state["factories"] if f["is_player"])
    margins = state["margins"]
    assert margins["decision"] == "calibrated"
    local_margin = margins["local"][str(player["node"])]
    fed_margin = margins["federated"]
    chart = dash.page.evaluate(CHART_JS, 0)
    data, series = chart["data"], chart["series"]
    slot = player["slots"][0]
    # The latest point is the slot's latest state: prediction - margin, to the cent of a cycle.
    assert data[0][-1] == slot["cycle"]
    assert data[LOCAL][-1] == slot["local_rul"]
    assert data[LOCAL_LOW][-1] == pytest.approx(slot["local_rul"] - local_margin, abs=0.006)
    assert data[FED_LOW][-1] == pytest.approx(slot["federated_rul"] - fed_margin, abs=0.006)
    # ... and every point of the engine drawn so far.
    for k in range(len(data[0])):
        if data[LOCAL][k] is not None:
            assert data[LOCAL_LOW][k] == pytest.approx(data[LOCAL][k] - local_margin, abs=0.006)
        if data[FED][k] is not None:
            assert data[FED_LOW][k] == pytest.approx(data[FED][k] - fed_margin, abs=0.006)
    # Dashed, in its prediction's colour; the predictions themselves solid.
    assert series[LOCAL_LOW]["stroke"] == series[LOCAL]["stroke"]
    assert series[FED_LOW]["stroke"] == series[FED]["stroke"]
    assert series[LOCAL_LOW]["dash"] and series[FED_LOW]["dash"]
    assert not series[LOCAL]["dash"] and not series[FED]["dash"]
    # The legend names each bound with its margin; the raw rule is not shown.
    expect(dash.by_id("legend-local-bound")).to_have_text(
        f"local lower bound (prediction − margin {short(local_margin)})"
    )
    expect(dash.by_id("legend-fed-bound")).to_have_text(
        f"federated lower bound (prediction − margin {short(fed_margin)})"
    )
    expect(dash.by_id("legend-raw")).to_be_hidden()
    expect(dash.by_id("decision-rule")).to_contain_text("less the model's margin")
    # The chart's text alternative says the bounds too.
    label = dash.page.locator("[data-testid=strategy-chart]").first.get_attribute("aria-label")
    assert "lower bounds" in (label or "") or "no data" in (label or "")


def test_the_models_panel_shows_margins_failures_and_percent_of_oracle(
    dash: tb.Dashboard, server_url: str
) -> None:
    models = dash.page.request.get(server_url + "api/models").json()
    node = dash.player()["node"]
    cal, policies = models["calibration"], models["policies"]

    def cell(key: str, what: str) -> str:
        return dash.by_id(f"policy-{key}-{what}").inner_text()

    expect(dash.by_id("policy-table")).to_be_visible()
    assert cell("federated", "margin") == short(cal["federated"]["margin"])
    assert cell("centralized", "margin") == short(cal["centralized"]["margin"])
    assert cell("yours", "margin") == short(cal["local"][node]["margin"])
    locals_ = sorted(c["margin"] for c in cal["local"])
    mid = len(locals_) // 2
    median = locals_[mid] if len(locals_) % 2 else (locals_[mid - 1] + locals_[mid]) / 2
    assert cell("local", "margin") == short(median)
    for key, name in [
        ("corrective", "corrective"),
        ("preventative", "preventative"),
        ("local", "local_median"),
        ("federated", "federated"),
        ("centralized", "centralized"),
    ]:
        assert cell(key, "failures") == short(policies["failures"][name])
        assert cell(key, "pct") == f"{policies['percent_of_oracle'][name]:.1f}%"
    assert cell("corrective", "margin") == "-"
    own = policies["local_by_node"]
    assert cell("yours", "failures") == short(own["failures"][node])
    assert cell("yours", "pct") == f"{own['percent_of_oracle'][node]:.1f}%"
    # Your local model calibrates on its own four engines: its rows, said in words.
    note = dash.by_id("model-margin-note").inner_text()
    assert "own four engines alone" in note
    assert f"{cal['local'][node]['rows']} late-life cycles" in note
    assert f"margin of {short(cal['local'][node]['margin'])} cycles" in note
    assert "very little data" in note
    rule = dash.by_id("policy-rule").inner_text()
    assert rule.startswith("Decision: calibrated")
    assert f"{policies['ticks']:,} ticks" in rule


@pytest.fixture(scope="module")
def raw_server(browser_game_models: Any) -> Iterator[str]:
    """The real app under the raw decision (FF09's rule: no margin)."""
    from servers import running_server

    from app.game.settings import GameSettings

    with running_server(browser_game_models, game=GameSettings(decision="raw")) as base:
        yield f"http://{base}/"


browser_game_models = tb.browser_game_models


def test_under_the_raw_rule_no_lower_bound_is_drawn(browser: Any, raw_server: str) -> None:
    d = tb.open_dashboard(browser, raw_server, tb.VIEWPORT)
    try:
        state = played_and_paused(d, cycles=4)
        assert state["margins"]["decision"] == "raw"
        chart = d.page.evaluate(CHART_JS, 0)
        assert any(v is not None for v in chart["data"][LOCAL])
        assert all(v is None for v in chart["data"][LOCAL_LOW] + chart["data"][FED_LOW])
        expect(d.by_id("legend-raw")).to_be_visible()
        expect(d.by_id("legend-raw")).to_contain_text("raw rule")
        expect(d.by_id("legend-local-bound")).to_be_hidden()
        expect(d.by_id("legend-fed-bound")).to_be_hidden()
        expect(d.by_id("policy-rule")).to_contain_text("Decision: raw rule")
        expect(d.by_id("decision-rule")).to_contain_text("raw rule")
    finally:
        tb.close_dashboard(d)


def test_the_lab_headline_gives_percent_of_oracle_after_a_run(tabs: tl.Tabs) -> None:
    page = tabs.lab.page
    for name, value in {"model": "ff09", "nodes": "8", "rounds": "2"}.items():
        tl._set(page, name, value)
    head = tabs.lab.by_id("lab-headline")
    expect(head).to_be_hidden()
    tabs.lab.by_id("lab-start").click()
    page.wait_for_function("window.__lab.status === 'finished'", timeout=tb.LONG_WAIT_MS)
    final = page.evaluate("window.__lab.final")
    rounds = page.evaluate("window.__lab.rounds")
    assert all("capped_rmse" in r for r in rounds)
    expect(head).to_be_visible()
    text = head.inner_text()
    assert text.startswith("After 2 rounds:")
    assert f"late-life RMSE {final['late_life_rmse']:.2f} cycles" in text
    assert f"capped RMSE {final['capped_rmse']:.2f}" in text
    if final["percent_of_oracle"] is None:
        assert final["not_deployed"] in text
        assert head.get_attribute("data-deployable") == "false"
    else:
        assert f"earns {final['percent_of_oracle']:.1f}% of the oracle's profit" in text
        cal = final["calibration"]
        if cal["decision"] == "calibrated":
            assert (
                f"calibrated decision: maintains when prediction − margin {short(cal['margin'])}"
                in text
            )
        else:
            assert "raw rule" in text
    # the round curves are still drawn, the capped RMSE among them
    assert page.evaluate("window.__lab.charts.rmse") == 2
    expect(tabs.lab.by_id("chart-rmse")).to_have_attribute(
        "aria-label", re.compile(rf"capped {rounds[-1]['capped_rmse']:.2f}")
    )

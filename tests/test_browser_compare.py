"""The Compare view in a real browser (Debian's chromium through Playwright) on the real server.

It asks /ws/compare on load and on demand; every check reads what the page shows against the
result frame the server sent (kept by the page in `window.__compare`), and that frame against one
asked for here over a websocket of our own: no value is written into the test.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import test_browser as tb
from websockets.sync.client import connect

playwright_sync = tb.playwright_sync
expect = playwright_sync.expect

pytestmark = tb.pytestmark

# The shared fixtures of the dashboard's browser tests.
browser = tb.browser
server_url = tb.server_url

NODE = 17


def open_compare(browser: Any, server_url: str, query: str, viewport: dict) -> tb.Dashboard:
    # bypass_csp: Playwright evaluates wait_for_function predicates as strings, which the
    # pages' CSP forbids (no unsafe-eval); tests/test_browser_csp.py checks the policy itself.
    page = browser.new_page(viewport=viewport, bypass_csp=True)
    d = tb.Dashboard(page)  # collects console errors and page errors
    page.goto(f"{server_url}compare{query}")
    page.wait_for_function("window.__compare !== undefined")
    return d


def wait_done(d: tb.Dashboard, ticks: int | None = None) -> dict:
    """Wait for the page's current comparison to finish; its result frame, as the page got it."""
    extra = "" if ticks is None else f" && window.__compare.result.ticks === {ticks}"
    d.page.wait_for_function(
        f"window.__compare.status === 'done' && !!window.__compare.result{extra}",
        timeout=tb.LONG_WAIT_MS,
    )
    return d.page.evaluate("window.__compare.result")


@pytest.fixture
def compare(browser: Any, server_url: str) -> Iterator[tb.Dashboard]:
    d = open_compare(browser, server_url, f"?node={NODE}", tb.VIEWPORT)
    yield d
    tb.close_dashboard(d)


def ask(url: str, request: dict) -> dict:
    """The server's answer to a compare request, over a websocket of our own."""
    with connect(url) as ws:
        ws.send(json.dumps(request))
        while True:
            frame = json.loads(ws.recv(timeout=60.0))  # a hang guard only
            if frame["type"] in ("result", "error"):
                return frame


def numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"[+-]?\d+(?:\.\d+)?", text.replace(",", ""))]


RECORD_PROGRESS_JS = """() => {
  const text = document.querySelector('[data-testid=compare-progress-text]');
  const bar = document.querySelector('[data-testid=compare-progress]');
  const seen = (window.__progress = []);
  new MutationObserver(() => seen.push({text: text.textContent, value: bar.value, max: bar.max,
                                        visible: bar.checkVisibility()}))
    .observe(text, {childList: true, characterData: true, subtree: true});
}"""


def test_compare_runs_on_load_then_on_demand_with_progress_and_the_answer(
    compare: tb.Dashboard, server_url: str
) -> None:
    page = compare.page
    assert page.title().startswith("Compare")
    # On load: the default request (5 draw seeds x 5,000 ticks), progress per seed, then a result.
    first = wait_done(compare)
    state = page.evaluate("window.__compare")
    assert state["request"] == {"type": "compare", "seeds": [0, 1, 2, 3, 4], "ticks": 5000}
    assert state["frames"] == ["progress"] * 5 + ["result"]
    assert first["ticks"] == 5000 and [s["seed"] for s in first["seeds"]] == [0, 1, 2, 3, 4]

    # On demand: 3 seeds x 1,500 ticks; the progress shown is recorded as the page changes it.
    page.evaluate(RECORD_PROGRESS_JS)
    page.get_by_test_id("compare-seeds").fill("3")
    page.get_by_test_id("compare-ticks").fill("1500")
    page.get_by_test_id("compare-run").click()
    result = wait_done(compare, ticks=1500)
    shown = page.evaluate("window.__progress")
    texts = [s["text"] for s in shown]
    for k in range(4):
        assert any(f"{k} of 3 seeds done" in t for t in texts), texts
    assert texts[-1].startswith("Done: 3 draw seeds × 1,500 ticks"), texts
    running = [s for s in shown if "seeds done" in s["text"]]
    assert all(s["visible"] and s["max"] == 3 for s in running), shown
    assert [s["value"] for s in running] == sorted(s["value"] for s in running), shown
    assert page.evaluate("window.__compare.frames").count("result") == 2
    expect(page.get_by_test_id("compare-run")).to_be_enabled()

    # The page's result is the server's: the same request asked here gives the same frame.
    url = server_url.replace("http://", "ws://") + "ws/compare"
    ours = ask(url, {"type": "compare", "seeds": [0, 1, 2], "ticks": 1500})
    assert ours == result

    # The answer in one sentence, with the server's numbers (to the decimal shown).
    sentence = page.get_by_test_id("compare-sentence").inner_text()
    diff = result["federated_minus_local"]
    direction = "more" if diff["mean"] >= 0 else "less"
    assert sentence.startswith("Federated earns ")
    assert f"of the oracle's profit {direction} than a factory's own local model" in sentence
    mean, lo, hi, share = numbers(sentence.replace("95% interval", "interval"))
    assert mean == pytest.approx(abs(diff["mean"]), abs=0.051)
    assert lo == pytest.approx(diff["ci95"][0], abs=0.051)
    assert hi == pytest.approx(diff["ci95"][1], abs=0.051)
    assert share == pytest.approx(100 * result["share_federated_beats_local"], abs=0.51)
    assert sentence.endswith("of the factories' local models.")

    # The player's factory (?node=17) is marked: in the text, the legend, the chart and the table.
    mine = [s["local_by_factory"][NODE] for s in result["seeds"]]
    you = page.get_by_test_id("compare-you").inner_text()
    assert f"(node {NODE})" in you
    assert numbers(you.split(")", 1)[1])[0] == pytest.approx(sum(mine) / len(mine), abs=0.051)
    expect(page.get_by_test_id("legend-you")).to_contain_text(f"node {NODE}")
    marked = page.evaluate("window.__compare.chart.you")
    assert [m["node"] for m in marked] == [NODE] * 3
    assert [m["value"] for m in marked] == mine
    chart = page.get_by_test_id("compare-chart")
    assert chart.get_attribute("role") == "img"
    label = chart.get_attribute("aria-label") or ""
    assert f"node {NODE}" in label and "federated" in label
    assert chart.locator("canvas").count() == 1
    assert page.evaluate("window.__compare.chart.rows") == 3

    # Per-seed table: a row per seed and a mean row, with the server's figures.
    rows = page.locator("[data-testid=compare-table] tbody tr")
    assert rows.count() == 4
    header = page.locator("[data-testid=compare-table] thead th").all_inner_texts()
    assert f"YOURS (NODE {NODE})" in [h.upper() for h in header]
    for i, seed in enumerate(result["seeds"]):
        row = rows.nth(i)
        assert row.get_attribute("data-seed") == str(seed["seed"])
        for key in ("federated", "corrective", "preventative"):
            cell = row.locator(f"td[data-key={key}]").inner_text()
            assert numbers(cell)[0] == pytest.approx(seed["percent_of_oracle"][key], abs=0.051)
        assert numbers(row.locator("td[data-key=yours]").inner_text())[0] == pytest.approx(
            seed["local_by_factory"][NODE], abs=0.051
        )
    assert page.get_by_test_id("back-link").get_attribute("href") == "/"
    assert page.get_by_test_id("compare-error").is_hidden()


def test_compare_checks_its_inputs_before_asking(compare: tb.Dashboard) -> None:
    page = compare.page
    wait_done(compare)
    frames = page.evaluate("window.__compare.frames.length")
    message = page.get_by_test_id("compare-form-error")
    for seeds, ticks in (("0", "5000"), ("21", "5000"), ("5", "100"), ("5", "2.5e3")):
        page.get_by_test_id("compare-seeds").fill(seeds)
        page.get_by_test_id("compare-ticks").fill(ticks)
        page.get_by_test_id("compare-run").click()
        expect(message).to_be_visible()
        expect(message).to_contain_text("1 to 20")
    assert page.get_by_test_id("compare-ticks").get_attribute("aria-invalid") == "true"
    page.wait_for_timeout(300)  # time for a frame that should not come
    assert page.evaluate("window.__compare.frames.length") == frames
    assert page.evaluate("window.__compare.status") == "done"


def test_compare_without_a_node_marks_nobody(browser: Any, server_url: str) -> None:
    d = open_compare(browser, server_url, "?seeds=2&ticks=1000", tb.VIEWPORT)
    try:
        result = wait_done(d, ticks=1000)
        assert [s["seed"] for s in result["seeds"]] == [0, 1]
        assert d.page.get_by_test_id("compare-you").is_hidden()
        assert d.page.get_by_test_id("legend-you").count() == 0
        assert d.page.evaluate("window.__compare.chart.you") == []
        expect(d.page.get_by_test_id("compare-sentence")).to_contain_text("Federated earns")
        # The decision in use, and each policy's failures per seed (the server's figures).
        expect(d.page.get_by_test_id("compare-decision")).to_contain_text(
            "Decision: raw rule" if result["decision"] == "raw" else "Decision: calibrated"
        )
        expect(d.page.get_by_test_id("compare-context")).to_contain_text(
            f"{result['decision']} decision"
        )
        rows = d.page.locator("[data-testid=compare-failures] tbody tr")
        assert rows.count() == len(result["seeds"]) + 1  # and a mean row
        keys = ["corrective", "preventative", "local_median", "federated", "centralized"]
        for i, seed in enumerate(result["seeds"]):
            row = rows.nth(i)
            assert row.get_attribute("data-seed") == str(seed["seed"])
            for key in keys:
                cell = row.locator(f"td[data-key={key}]").inner_text()
                assert float(cell) == pytest.approx(seed["failures"][key], abs=0.051)
    finally:
        tb.close_dashboard(d)


def test_compare_is_readable_by_keyboard_and_at_phone_width(compare: tb.Dashboard) -> None:
    page = compare.page
    wait_done(compare)
    wanted = ["back-link", "compare-seeds", "compare-ticks", "compare-run"]
    page.evaluate("document.activeElement && document.activeElement.blur()")
    order: list[str] = []
    for _ in range(20):
        page.keyboard.press("Tab")
        focused = page.evaluate(tb.FOCUS_JS)
        if focused is None or focused["testid"] in order:
            break
        order.append(focused["testid"])
        if focused["testid"] in wanted:
            assert focused["focusVisible"] and focused["outline"], focused
    assert [o for o in order if o in wanted] == wanted, order
    tb.check_contrast(compare, "compare, 1600 px")
    page.set_viewport_size(tb.PHONE)
    page.wait_for_function(f"document.documentElement.clientWidth === {tb.PHONE['width']}")
    sizes = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert sizes[0] <= sizes[1], sizes
    expect(page.get_by_test_id("compare-sentence")).to_be_visible()
    tb.check_contrast(compare, "compare, 390 px")


def test_compare_says_what_it_varies_and_shows_both_answers(browser: Any, server_url: str) -> None:
    """Draw seeds on one set of models here; training seeds (models retrained per seed) in the
    README and `tycoon compare`: the page says which is which and shows both, each number read
    against its source (the result frame; bench/results/compare.json)."""
    from app.web.compare_published import PUBLISHED
    from app.web.settings import Settings

    d = open_compare(browser, server_url, "?seeds=2&ticks=1000", tb.VIEWPORT)
    try:
        page = d.page
        result = wait_done(d, ticks=1000)
        page.wait_for_function("window.__compare.published !== null")
        seed = Settings().seed  # what the server was started with: its models' training seed
        varies = page.get_by_test_id("compare-varies").inner_text()
        assert "What varies here: the draw seed" in varies
        assert "which engines each factory draws" in varies
        assert f"trained once with seed {seed}" in varies and "training seed" in varies

        rows = page.locator("[data-testid=compare-answers] tbody tr")
        expect(rows).to_have_count(2)
        draw, training = rows.nth(0), rows.nth(1)
        assert draw.get_attribute("data-answer") == "draw"
        assert training.get_attribute("data-answer") == "training"
        assert "2 draw seeds (0, 1)" in draw.locator("th").inner_text()
        assert f"trained once with seed {seed}" in draw.locator("td[data-key=models]").inner_text()
        published = json.loads(PUBLISHED.read_text())
        source = published if result["decision"] == published["decision"] else published["raw"]
        seeds = [s["seed"] for s in published["seeds"]]
        assert f"{len(seeds)} training seeds" in training.locator("th").inner_text()
        assert "retrained" in training.locator("td[data-key=models]").inner_text()
        for row, frame in ((draw, result), (training, source)):
            diff = frame["federated_minus_local"]
            mean = numbers(row.locator("td[data-key=mean]").inner_text())
            assert mean == [pytest.approx(diff["mean"], abs=0.051)]
            interval = numbers(row.locator("td[data-key=interval]").inner_text())
            assert interval == [pytest.approx(v, abs=0.051) for v in diff["ci95"]]
            share = numbers(row.locator("td[data-key=share]").inner_text())
            assert share == [pytest.approx(100 * frame["share_federated_beats_local"], abs=0.51)]

        note = page.get_by_test_id("compare-answers-note").inner_text()
        assert "luck of the draw" in note and "luck of training" in note
        assert "bench/results/compare.json" in note
        assert published["produced"]["date"][:10] in note
        assert published["produced"]["command"] in note
    finally:
        tb.close_dashboard(d)

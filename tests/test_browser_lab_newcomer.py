"""The Federation Lab for a newcomer (issue 21), in a real browser against real servers.

Debian's chromium through Playwright, as in tests/test_browser_lab.py: a failed start leaves
Start working with the server's sentence and the status cleared (a setting the server refuses,
and a run the server cannot train: a real server whose data directory is empty); recipes
fill the form and the run starts with their values; every field's help opens and closes from
the keyboard; Krum is explained and Multi-Krum's m suggested; the runtimes the server can run
are shown as it says (GET /api/lab). Every check reads what the page shows or received
(`window.__lab`); nothing depends on how fast the machine is. The pages run under the server's
Content Security Policy (no eval), so waits poll `page.evaluate` instead of Playwright's
`wait_for_function`, whose string predicates the policy refuses.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import test_browser as tb
from servers import running_server

playwright_sync = tb.playwright_sync
expect = playwright_sync.expect
pytestmark = tb.pytestmark

browser = tb.browser
server_url = tb.server_url


def _until(page: Any, predicate_js: str, timeout_ms: int = tb.WAIT_MS) -> None:
    """Wait until `predicate_js` holds in the page (a hang guard, never a measure of speed)."""
    give_up = time.monotonic() + timeout_ms / 1000
    while not page.evaluate(f"!!({predicate_js})"):
        assert time.monotonic() < give_up, f"still false after {timeout_ms} ms: {predicate_js}"
        page.wait_for_timeout(50)


def _open(browser: Any, url: str) -> tb.Dashboard:
    page = browser.new_page(viewport=tb.VIEWPORT)
    d = tb.Dashboard(page)
    page.goto(f"{url}lab")
    _until(page, "window.__lab !== undefined")
    return d


def _close(d: tb.Dashboard) -> None:
    problems = list(d.problems)
    d.page.close()
    assert problems == [], "the page logged errors:\n" + "\n".join(problems)


@pytest.fixture
def lab(browser: Any, server_url: str) -> Iterator[tb.Dashboard]:
    """The lab page in a fresh tab; fails on any console or page error it logged."""
    d = _open(browser, server_url)
    yield d
    _close(d)


@pytest.fixture(scope="module")
def dataless_url(game_models: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server whose lab data directory is empty: a run passes validation, then fails on
    the missing data (after `started` before issue 20's sizing, which now meets it first)."""
    empty = tmp_path_factory.mktemp("no-lab-data")
    with running_server(game_models, data_dir=empty) as base:
        yield f"http://{base}/"


def _set(page: Any, name: str, value: str) -> None:
    field = page.locator(f"#lab-form [name={name}]")
    if field.evaluate("el => el.tagName") == "SELECT":
        field.select_option(value)
    else:
        field.fill(value)


def _small_run_finishes(d: tb.Dashboard) -> None:
    """Start works: a small FF09 federation plays to the end."""
    page = d.page
    for name, value in {"seed": "0", "model": "ff09", "nodes": "8", "rounds": "2"}.items():
        _set(page, name, value)
    d.by_id("lab-start").click()
    _until(page, "window.__lab.status === 'finished'", tb.LONG_WAIT_MS)
    assert [r["round"] for r in page.evaluate("window.__lab.rounds")] == [1, 2]
    progress = page.evaluate("window.__lab.progress")  # from the rounds' own seconds
    assert progress["done"] == progress["total"] == 2 and progress["left"] == 0
    assert progress["perRound"] > 0


def _expect_failed_and_ready(d: tb.Dashboard, words: str) -> None:
    expect(d.by_id("lab-error")).to_be_visible()
    expect(d.by_id("lab-error")).to_contain_text(words)
    expect(d.by_id("lab-start")).to_be_enabled()
    expect(d.by_id("lab-cancel")).to_be_disabled()
    expect(d.by_id("lab-status")).to_have_text("")
    expect(d.page.locator("#lab-form [name=nodes]")).to_be_enabled()


def test_a_refused_seed_leaves_start_working_with_the_error_and_no_status(
    lab: tb.Dashboard,
) -> None:
    page = lab.page
    _set(page, "seed", "-1")
    lab.by_id("lab-start").click()
    _until(page, "window.__lab.errors.length >= 1")
    message = page.evaluate("window.__lab.errors[0]")
    assert "seed" in message
    _expect_failed_and_ready(lab, message)
    _small_run_finishes(lab)
    expect(lab.by_id("lab-error")).to_be_hidden()


def test_a_run_the_server_cannot_train_leaves_start_working(
    browser: Any, dataless_url: str
) -> None:
    d = _open(browser, dataless_url)
    page = d.page
    d.by_id("lab-start").click()
    _until(page, "window.__lab.errors.length >= 1", tb.LONG_WAIT_MS)
    lab = page.evaluate("window.__lab")
    # refused while sizing the run, or failed once started (older servers): either way, over
    assert "missing data file" in lab["errors"][0], lab["errors"]
    assert lab["status"] in ("idle", "error")
    _expect_failed_and_ready(d, "missing data file")
    expect(d.by_id("lab-progress")).to_be_hidden()
    # a second try reaches the server again (and fails the same way): Start works
    d.by_id("lab-start").click()
    _until(page, "window.__lab.errors.length >= 2", tb.LONG_WAIT_MS)
    _expect_failed_and_ready(d, "missing data file")
    _close(d)


def test_a_recipe_fills_the_form_and_the_run_starts_with_its_values(lab: tb.Dashboard) -> None:
    page = lab.page
    presets = page.evaluate("import('/static/js/lab/presets.js').then(m => m.PRESETS)")
    assert [p["name"] for p in presets] == ["Attack it", "Defend it", "Make it private", "Go big"]
    _set(page, "rounds", "3")  # a recipe puts every other field back to its default
    defend = next(p for p in presets if p["id"] == "defend")
    lab.by_id("preset-defend").click()
    for name, value in defend["values"].items():
        field = page.locator(f"#lab-form [name={name}]")
        assert field.input_value() == str(value)
    expect(page.locator("#lab-form [name=rounds]")).to_have_value("20")
    expect(lab.by_id("lab-watch")).to_have_text(f"Defend it: {defend['watch']}")
    expect(lab.by_id("lab-estimate")).to_contain_text("Estimated time: about")
    expect(lab.by_id("lab-estimate")).to_contain_text("80 nodes × 20 rounds × 1 epoch")
    lab.by_id("lab-start").click()
    _until(page, "window.__lab.config !== null")
    config = page.evaluate("window.__lab.config")
    for name, value in defend["values"].items():
        assert config[name] == value, (name, config[name], value)
    assert config["rounds"] == 20 and config["nodes"] == 80
    lab.by_id("lab-cancel").click()
    _until(page, "window.__lab.status === 'cancelled'", tb.LONG_WAIT_MS)
    expect(lab.by_id("lab-start")).to_be_enabled()
    # "Make it private" draws the privacy spent; a run without noise draws no epsilon axis
    lab.by_id("preset-private").click()
    expect(page.locator("#lab-form [name=dp_noise]")).to_have_value("1")
    expect(lab.by_id("lab-watch")).to_contain_text("ε")
    expect(lab.by_id("legend-eps")).to_be_hidden()


def test_every_field_has_help_that_opens_and_closes_from_the_keyboard(lab: tb.Dashboard) -> None:
    page = lab.page
    named = page.locator("#lab-form input[name], #lab-form select[name]").count()
    assert page.locator("#lab-form .lab-help-btn").count() == named >= 24
    button = lab.by_id("help-btn-nodes")
    help_text = lab.by_id("help-nodes")
    expect(help_text).to_be_hidden()
    page.locator("#lab-form [name=nodes]").focus()
    page.keyboard.press("Tab")  # the field's own help button comes next
    expect(button).to_be_focused()
    page.keyboard.press("Enter")
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(help_text).to_be_visible()
    expect(help_text).to_contain_text("factories")
    expect(button).to_have_attribute("aria-controls", "help-nodes")
    page.keyboard.press("Space")
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(help_text).to_be_hidden()


def test_krum_is_explained_and_multi_krum_suggested(lab: tb.Dashboard) -> None:
    page = lab.page
    note = lab.by_id("krum-note")
    m = page.locator("#lab-form [name=multi_krum]")
    expect(note).to_be_hidden()
    _set(page, "aggregation", "krum")
    expect(note).to_be_visible()
    expect(note).to_contain_text("with 80 nodes, 79 are rejected every round")
    expect(note).to_contain_text("Multi-Krum averages the m most central models")
    expect(m).to_have_value("64")  # no attack: 80 - 2 x a tenth of them
    _set(page, "attack", "scale")
    _set(page, "attackers", "0.2")
    expect(m).to_have_value("48")  # 80 - 2 x 16 attackers
    expect(note).to_contain_text("80 − 2 × 16 = 48")
    # a small Multi-Krum run keeps m models a round, not one
    _set(page, "attack", "none")
    _set(page, "attackers", "0")
    for name, value in {"model": "ff09", "nodes": "12", "rounds": "1"}.items():
        _set(page, name, value)
    expect(m).to_have_value("8")  # 12 - 2 x 2
    lab.by_id("lab-start").click()
    _until(page, "window.__lab.status === 'finished'", tb.LONG_WAIT_MS)
    lab_state = page.evaluate("window.__lab")
    assert lab_state["config"]["multi_krum"] == 8
    assert len(lab_state["rounds"][0]["rejected"]) == 12 - 8
    # m typed by the user stays theirs; empty is plain Krum
    m.fill("")
    _set(page, "nodes", "20")
    expect(m).to_have_value("")


def test_runtimes_are_shown_as_the_server_says(lab: tb.Dashboard, server_url: str) -> None:
    page = lab.page
    option = page.locator("#lab-form [name=runtime] option[value=flower-deployment]")
    answer = page.request.get(f"{server_url}api/lab").json()
    flower = next((r for r in answer.get("runtimes", []) if r["name"] == "flower-deployment"), None)
    if flower is None or flower["available"]:
        # this server can run Flower (the venv has the extra), or does not say: enabled, and the
        # runtime's help names the command that installs it
        expect(option).to_be_enabled()
        expect(lab.by_id("runtime-note")).to_be_hidden()
        expect(lab.by_id("help-runtime")).to_contain_text("make install-flower")
    else:
        expect(option).to_be_disabled()
        expect(option).to_contain_text("make install-flower")
    # The page's rendering of a server without Flower, given the answer such a server sends
    # (app/web/lab_runtimes.py, checked there by tests/test_lab_runtimes.py).
    missing = [
        {"name": "inprocess", "available": True},
        {
            "name": "flower-deployment",
            "available": False,
            "why": "Flower (the optional extra) is not installed on this server",
            "install": "make install-flower",
        },
    ]
    page.locator("#lab-form [name=runtime]").select_option("flower-deployment")
    page.evaluate(
        """(missing) => import('/static/js/lab/runtimes.js').then((m) => m.showRuntimes(
            document.querySelector('#lab-form [name=runtime]'), missing,
            document.getElementById('runtime-note')))""",
        missing,
    )
    expect(option).to_be_disabled()
    expect(option).to_have_text("Flower deployment (not installed: make install-flower)")
    expect(page.locator("#lab-form [name=runtime]")).to_have_value("inprocess")
    expect(lab.by_id("runtime-note")).to_be_visible()
    expect(lab.by_id("runtime-note").locator("code")).to_have_text("make install-flower")


def test_no_epsilon_axis_without_noise_and_an_empty_round_is_said(lab: tb.Dashboard) -> None:
    page = lab.page
    axes = lab.by_id("chart-rmse").locator(".u-axis")
    settings = {"model": "ff09", "nodes": "8", "rounds": "1", "dropout": "0.99", "seed": "0"}
    for name, value in settings.items():
        _set(page, name, value)
    lab.by_id("lab-start").click()
    _until(page, "window.__lab.status === 'finished'", tb.LONG_WAIT_MS)
    record = page.evaluate("window.__lab.rounds[0]")
    assert record["participants"] == []  # seed 0: all 8 dropped out (0.99 each)
    expect(lab.by_id("lab-counts")).to_contain_text("Round 1: no node took part this round")
    expect(axes).to_have_count(2)  # rounds and RMSE: no epsilon axis without noise
    expect(lab.by_id("legend-eps")).to_be_hidden()
    for name, value in {"dropout": "0", "dp_noise": "1", "dp_clip": "0.5"}.items():
        _set(page, name, value)
    lab.by_id("lab-start").click()
    _until(page, "window.__lab.status === 'finished'", tb.LONG_WAIT_MS)
    assert page.evaluate("window.__lab.rounds[0].epsilon") > 0
    expect(axes).to_have_count(3)
    expect(lab.by_id("legend-eps")).to_be_visible()


def test_the_time_is_estimated_before_and_counted_down_during_a_run(lab: tb.Dashboard) -> None:
    page = lab.page
    estimate = lab.by_id("lab-estimate")
    expect(estimate).to_contain_text("Estimated time: about")
    expect(estimate).to_contain_text("An estimate from this project's measurements")
    before = estimate.text_content()
    _set(page, "local_epochs", "3")
    expect(estimate).to_contain_text("80 nodes × 20 rounds × 3 epochs")
    assert estimate.text_content() != before
    got = page.evaluate(
        """() => import('/static/js/lab/estimate.js').then((m) => ({
            small: m.estimate({ nodes: 80 }).seconds,
            big: m.estimate({ nodes: 800 }).seconds,
            left: m.timeLeftText([{ seconds: 0.5 }, { seconds: 0.7 }, { seconds: 0.6 }], 13),
            done: m.timeLeftText([{ seconds: 0.5 }], 1),
        }))"""
    )
    assert got["big"] > 5 * got["small"] > 0
    # 10 rounds left at the median 0.6 s a round
    assert got["left"] == "; about 6 s left (0.60 s a round so far)"
    assert got["done"] == ""

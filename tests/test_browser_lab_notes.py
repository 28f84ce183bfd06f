"""What the Federation Lab says in words about secure aggregation (issue 19), in a real browser.

Debian's chromium through Playwright against the real server (tests/conftest.py), as in
tests/test_browser_lab.py: the note beside the "secure aggregation" box, the nodes whose own
client refused to mask an update counted apart from those the rule rejected, and the run's notes
(`final.notes`) shown verbatim. Every check reads what the page shows or received
(`window.__lab`); nothing depends on how fast the machine is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import test_browser as tb

playwright_sync = tb.playwright_sync
expect = playwright_sync.expect
pytestmark = tb.pytestmark

browser = tb.browser
server_url = tb.server_url


@pytest.fixture
def lab(browser: Any, server_url: str) -> Iterator[tb.Dashboard]:
    """The lab page in a fresh tab; fails on any console or page error it logged."""
    page = browser.new_page(viewport=tb.VIEWPORT, bypass_csp=True)  # see tests/test_browser.py
    d = tb.Dashboard(page)
    page.goto(f"{server_url}lab")
    page.wait_for_function("window.__lab !== undefined")
    yield d
    problems = list(d.problems)
    page.close()
    assert problems == [], "the page logged errors:\n" + "\n".join(problems)


def _set(page: Any, name: str, value: str) -> None:
    field = page.locator(f"#lab-form [name={name}]")
    if field.evaluate("el => el.tagName") == "SELECT":
        field.select_option(value)
    else:
        field.fill(value)


def test_the_secure_aggregation_note_says_what_the_server_cannot_screen(
    lab: tb.Dashboard,
) -> None:
    page = lab.page
    box = page.locator("#lab-form [name=secure_aggregation]")
    note = lab.by_id("secagg-note")
    attack_note = lab.by_id("secagg-attack-note")
    expect(note).to_be_hidden()
    box.check()
    expect(note).to_be_visible()
    for words in (
        "sees only the sum",
        "cannot screen any client's update",
        "robust rules are off",
        "refuses to mask an update that is not finite or out of range",
        '"refused"',
        "a hostile client that skips its own check can send any value in the ring",
    ):
        expect(note).to_contain_text(words)
    expect(attack_note).to_be_hidden()  # no attack chosen yet
    _set(page, "attack", "sign_flip")
    expect(attack_note).to_be_visible()
    expect(attack_note).to_contain_text("the attackers' updates enter the sum unscreened")
    _set(page, "attack", "none")
    expect(attack_note).to_be_hidden()
    _set(page, "attack", "nan")
    expect(attack_note).to_be_visible()
    box.uncheck()
    expect(note).to_be_hidden()
    expect(attack_note).to_be_hidden()


def test_a_refused_update_is_counted_apart_and_the_run_says_why(lab: tb.Dashboard) -> None:
    """Needs the engine's `refused` round field and `final.notes` (issue 19)."""
    page = lab.page
    settings = {"model": "ff09", "nodes": "8", "rounds": "1", "attack": "nan"}
    settings |= {"attackers": "0.125"}  # one attacker of 8
    for name, value in settings.items():
        _set(page, name, value)
    page.locator("#lab-form [name=secure_aggregation]").check()
    expect(lab.by_id("secagg-attack-note")).to_be_visible()
    lab.by_id("lab-start").click()
    page.wait_for_function("window.__lab.status === 'finished'", timeout=tb.LONG_WAIT_MS)
    state = page.evaluate("window.__lab")
    assert state["config"]["secure_aggregation"] is True
    record = state["rounds"][-1]
    refused = set(record["refused"])
    # the NaN attacker's own client will not mask its update: refused, and rejected too
    assert refused and refused <= set(record["attackers"]), record
    assert refused <= set(record["rejected"]), record
    by_rule = len(set(record["rejected"]) - refused)
    counts = lab.by_id("lab-counts")
    expect(counts).to_contain_text(f"{len(refused)} refused to mask (not finite or out of range)")
    expect(counts).to_contain_text(f"{by_rule} rejected by the rule")
    for node in refused:
        expect(lab.by_id("lab-grid").locator(".node").nth(node)).to_have_class("node s-refused")
    notes = state["final"]["notes"]
    assert any("Secure aggregation" in note for note in notes), notes
    shown = lab.by_id("lab-notes")
    expect(shown).to_be_visible()
    expect(shown.locator("li")).to_have_text(notes)

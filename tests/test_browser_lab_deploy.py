"""A lab model's deployment as the player sees it (docs/lab.md, section 4), in a real browser.

Debian's chromium through Playwright against the real server (tests/conftest.py), with the
dashboard and the lab in one browser context as in tests/test_browser_lab.py. The run is one
round of 8 FF09 nodes at a tiny learning rate, so it trains in a moment and surely earns less
than the default model: the lab asks before deploying it. Then the badge names the run's
settings, the Models panel names the model that decides, and reload, "Use the default model" and
New game behave as the note beside the badge says.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import test_browser as tb
from test_browser_lab import Tabs, _set

from app.web.deployments import KEPT

playwright_sync = tb.playwright_sync
expect = playwright_sync.expect
pytestmark = tb.pytestmark

browser = tb.browser
server_url = tb.server_url

WORSE = {"model": "ff09", "nodes": "8", "rounds": "1", "lr": "0.000001"}


@pytest.fixture
def tabs(browser: Any, server_url: str) -> Iterator[Tabs]:
    t = Tabs(browser, server_url)
    yield t
    t.close()


def _train(tabs: Tabs, settings: dict[str, str], secure: bool = False) -> None:
    page = tabs.lab.page
    for name, value in settings.items():
        _set(page, name, value)
    if secure:
        page.locator("#lab-form [name=secure_aggregation]").check()
    tabs.lab.by_id("lab-start").click()
    page.wait_for_function("window.__lab.status === 'finished'", timeout=tb.LONG_WAIT_MS)


def _deploy_anyway(tabs: Tabs) -> dict[str, Any]:
    """Deploy; the model earns less than the default, so confirm. The `deployed` frame."""
    page = tabs.lab.page
    page.evaluate("window.__lab.deployed = null; window.__lab.check = null")
    tabs.lab.by_id("lab-deploy").click()
    expect(tabs.lab.by_id("lab-deploy-warning")).to_be_visible(timeout=tb.LONG_WAIT_MS)
    tabs.lab.by_id("lab-deploy-anyway").click()
    page.wait_for_function("!!window.__lab.deployed", timeout=tb.LONG_WAIT_MS)
    deployed: dict[str, Any] = page.evaluate("window.__lab.deployed")
    return deployed


def test_a_worse_model_is_warned_about_and_its_badge_and_models_panel_name_it(
    tabs: Tabs,
) -> None:
    lab, game = tabs.lab, tabs.game
    private = {**WORSE, "dp_noise": "1", "dp_clip": "0.5", "attack": "sign_flip"}
    _train(tabs, {**private, "attackers": "0.25"}, secure=True)
    lab.by_id("lab-deploy").click()
    warning = lab.by_id("lab-deploy-warning")
    expect(warning).to_be_visible(timeout=tb.LONG_WAIT_MS)
    check = lab.page.evaluate("window.__lab.check")
    assert check["percent_of_oracle"] < check["default_percent_of_oracle"]
    expect(lab.by_id("lab-deploy-warning-text")).to_contain_text(
        f"earns {check['percent_of_oracle']:.1f}% of the oracle's profit in the game, less "
        f"than the default federated model's {check['default_percent_of_oracle']:.1f}%"
    )
    expect(lab.page.locator("#fig-lab")).to_have_text(f"{check['percent_of_oracle']:.1f}%")
    # asked, not deployed: the game still runs its default model
    assert game.state().get("lab_model") is None
    lab.by_id("lab-deploy-keep").click()
    expect(warning).to_be_hidden()
    expect(lab.by_id("lab-deploy-status")).to_have_text("Not deployed: your game keeps its model.")
    assert game.state().get("lab_model") is None and game.state()["federated_model"] == "default"
    # asked again, deployed anyway: the reply says what it costs and how long it lasts
    deployed = _deploy_anyway(tabs)
    assert deployed["worse_than_default"] is True
    status = lab.by_id("lab-deploy-status")
    expect(status).to_contain_text(f"this deployment is {KEPT}")
    expect(status).to_contain_text("Warning: this model earns")
    label = deployed["model"]
    assert re.fullmatch(
        r"lab model: 1 round, 8 nodes, fedavg vs 25% sign_flip, DP eps [0-9.]+, "
        r"secure aggregation",
        label,
    ), label
    game.wait_state(f"s.lab_model && s.lab_model.label === {label!r}")
    expect(game.by_id("federated-model")).to_have_text(f"Federated strategy's model: {label}")
    expect(game.by_id("federated-model-kept")).to_have_text(f"This deployment is {KEPT}.")
    expect(game.by_id("use-default-model")).to_be_visible()
    # the Models panel shows the model that decides, named as such, beside the default one
    lab_model = game.state()["lab_model"]
    expect(game.by_id("rmse-lab")).to_have_text(f"{lab_model['rmse']:.1f}")
    expect(game.by_id("late-lab")).to_have_text(f"{lab_model['late_life_rmse']:.1f}")
    expect(game.by_id("policy-lab-pct")).to_have_text(f"{lab_model['percent_of_oracle']:.1f}%")
    expect(
        game.page.locator("#policy-body tr").filter(has=game.by_id("policy-lab-pct"))
    ).to_contain_text("Lab model (decides)")
    expect(game.page.locator("#policy-body")).to_contain_text("Default federated (not deciding)")
    note = game.by_id("model-deployed")
    expect(note).to_contain_text(label)
    expect(note).to_contain_text(f"earns {lab_model['percent_of_oracle']:.1f}% of the oracle's")
    expect(note).to_contain_text("It earns less than the default model.")


def test_reload_keeps_the_model_going_back_and_new_game_say_default(tabs: Tabs) -> None:
    game = tabs.game
    _train(tabs, WORSE)
    label = _deploy_anyway(tabs)["model"]
    assert label == "lab model: 1 round, 8 nodes, fedavg"
    badge = game.by_id("federated-model")
    kept = game.by_id("federated-model-kept")
    expect(badge).to_have_text(f"Federated strategy's model: {label}")
    # a reload: the same game, the same model (the note says it is kept across reloads)
    game.page.reload()
    game.page.wait_for_function("window.__tycoon && window.__tycoon.stats.snapshots >= 1")
    game.wait_state(f"s.lab_model && s.lab_model.label === {label!r}")
    expect(badge).to_have_text(f"Federated strategy's model: {label}")
    expect(kept).to_contain_text("kept while this server runs, across reloads of this game")
    # back to the default model
    game.by_id("use-default-model").click()
    game.wait_state("s.lab_model === null && s.federated_model === 'default'")
    expect(badge).to_have_text("Federated strategy's model: default")
    expect(kept).to_have_text(f'You went back to the default model: "{label}" was dropped.')
    expect(game.by_id("use-default-model")).to_be_hidden()
    expect(game.by_id("model-deployed")).to_be_hidden()
    expect(game.page.locator("#policy-body")).not_to_contain_text("Lab model")
    # deployed again, then New game drops it
    _deploy_anyway(tabs)
    game.wait_state(f"s.lab_model && s.lab_model.label === {label!r}")
    expect(badge).to_have_text(f"Federated strategy's model: {label}")
    game.by_id("reset-btn").click()
    game.wait_state("s.lab_model === null && s.federated_model === 'default'")
    expect(badge).to_have_text("Federated strategy's model: default")
    expect(kept).to_have_text(f'New game dropped "{label}".')
    # ... for good: a reload of the new game plays the default model
    game.page.reload()
    game.page.wait_for_function("window.__tycoon && window.__tycoon.stats.snapshots >= 1")
    assert game.state()["federated_model"] == "default" and game.state()["lab_model"] is None
    expect(game.by_id("federated-model-row")).to_be_hidden()

"""The dashboard tells a player whose game is not being saved, for as long as it lasts (issue 20).

A real fault: the server's save file sits on a small tmpfs that the test fills to the last byte
(mounting needs root, as in CI; elsewhere a skip says so), then empties. Debian's chromium, the
real server in a thread (tests/servers.py), real frames.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import test_browser as tb
from servers import running_server
from test_storage_faults import fill, tmpfs

expect = tb.playwright_sync.expect
pytestmark = tb.pytestmark
browser = tb.browser

TOAST_MS = 5000  # how long an ordinary error toast stays (static/js/panels/notices.js)


def test_the_not_saved_toast_stays_until_the_game_is_saved_again(
    browser: Any, game_models: Any, tmp_path: Path
) -> None:
    with tmpfs(tmp_path / "disk", "8m") as disk:
        database = disk / "games.sqlite3"
        with running_server(game_models, database=database, save_interval_s=0.2) as base:
            d = tb.open_dashboard(browser, f"http://{base}/", tb.VIEWPORT)
            try:
                page = d.page
                page.get_by_test_id("speed").select_option("50")  # every save writes something
                filler = fill(disk)
                toast = page.get_by_test_id("not-saved-toast")
                expect(toast).to_contain_text("Your game is not being saved: disk full.")
                page.wait_for_timeout(TOAST_MS + 1000)  # an ordinary error toast is gone by now
                expect(toast).to_be_visible()
                assert page.evaluate("window.__tycoon.stats.errors") == []  # not a refusal

                filler.unlink()
                expect(toast).to_have_count(0)
                expect(page.get_by_test_id("saved-toast")).to_contain_text(
                    "Your game is being saved again."
                )
                assert page.evaluate("window.__tycoon.game.notSaved") is None
            finally:
                tb.close_dashboard(d)

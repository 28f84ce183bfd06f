"""The record of games that could not be saved, read back by a restart (issue 20): a save that
failed a fraction of a second after the last good one must still count as later than it (the
record kept whole seconds, so a restart could take the older save for the newest and say
nothing: seen in CI). Real files in a temporary folder, the real `SaveFaults`."""

from __future__ import annotations

import time
from pathlib import Path

from app.web.save_faults import SaveFaults
from app.web.save_records import SavedGame
from app.web.unsaved import UnsavedRecord

SESSION = "A" * 22


def test_a_failure_just_after_a_save_is_told_after_a_restart(tmp_path: Path) -> None:
    database = tmp_path / "games.sqlite3"
    first = SaveFaults(interval_s=0.2)
    first.open_record(database, max_age_s=3600.0)
    while not 0.1 < time.time() % 1 < 0.4:  # early in a second: whole seconds would round down
        time.sleep(0.01)
    saved_at = time.time()
    while time.time() - saved_at < 0.002:  # the failure comes 2 ms after the last good save
        pass
    first.record.mark([SESSION], "disk full")

    restarted = SaveFaults(interval_s=0.2)
    restarted.open_record(database, max_age_s=3600.0)
    (when, cause) = restarted.record.entries[SESSION]
    assert cause == "disk full" and when > saved_at
    game = SavedGame(SESSION, 40, saved_at, "{}", ())
    notice = restarted.resumed_notice(game)
    assert notice is not None and notice.startswith("Your latest moves could not be saved (disk")
    assert "at tick 40" in notice
    # Said once: the game goes on and is saved again from here.
    assert restarted.resumed_notice(game) is None
    assert UnsavedRecord.open(database, 3600.0).entries == {}

"""Two saves of one game at once that both fail (issue 20's full disk, seen in CI): the game must
still count as unsaved, so the next save tries again and a stop says it was lost. Real registry,
real SQLite store on a real full tmpfs (root only: a skip that says why elsewhere)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from servers import play
from test_storage_faults import fill, tmpfs

from app.game.decisions import DecisionTables
from app.web.registry import GameRegistry
from app.web.settings import Settings
from app.web.store import AsyncGameStore, StoreError


def test_two_failing_saves_of_one_game_at_once_leave_it_unsaved(
    game_models: Any, tmp_path: Path
) -> None:
    with tmpfs(tmp_path / "disk", "8m") as disk:
        settings = Settings(database=disk / "games.sqlite3", save_interval_s=60.0)
        pool = list(game_models.traces)

        async def scenario() -> list[BaseException | None]:
            store = await AsyncGameStore.open(settings.database)
            registry = GameRegistry(settings, pool, DecisionTables(pool, settings.game), store)
            game = registry._new_game()
            game.session.advance(5)  # moves that are in memory only
            fill(disk)
            try:
                # The periodic save and a closing tab's save, overlapping on a full disk.
                outcomes = await asyncio.gather(
                    registry._save([game]), registry._save([game]), return_exceptions=True
                )
                assert game.saved_version != game.session.version, "counted as saved"
                assert [g.session_id for g in registry.games.values()] == [game.session_id]
                return outcomes
            finally:
                await store.aclose()

        outcomes = play(scenario)
    assert all(isinstance(o, StoreError) for o in outcomes), outcomes


def test_a_save_cancelled_midway_counts_as_not_saved(game_models: Any, tmp_path: Path) -> None:
    """A closing tab's save cancelled by the server stopping (seen in CI: a stop then counted the
    game as saved and said 2 games were lost instead of 3): the game stays unsaved, so the
    shutdown's own save writes it, or says it was lost."""
    settings = Settings(database=tmp_path / "games.sqlite3", save_interval_s=60.0)
    pool = list(game_models.traces)

    async def scenario() -> None:
        store = await AsyncGameStore.open(settings.database)
        registry = GameRegistry(settings, pool, DecisionTables(pool, settings.game), store)
        game = registry._new_game()
        game.session.advance(5)
        try:
            saving = asyncio.create_task(registry._save([game]))
            await asyncio.sleep(0)  # the save is under way, waiting for the store's thread
            saving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await saving
            assert saving.cancelled()
            assert game.saved_version != game.session.version, "counted as saved"
            await registry._save([game])  # and a later save still writes it
            assert game.saved_version == game.session.version
            saved = await store.load(game.session_id)
            assert saved is not None and saved.tick == game.session.tick
        finally:
            await store.aclose()

    play(scenario)

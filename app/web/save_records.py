"""What a save holds and how a game is named: session ids, save records, loaded games.

Apart from `app.web.store` (the file that keeps them) so each module holds one concept; the store
re-exports these names, so callers import them from either.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


def new_session_id() -> str:
    """A fresh unguessable session id (22 url-safe characters): knowing it is owning the game."""
    return secrets.token_urlsafe(16)


def valid_session_id(text: str) -> bool:
    """Whether `text` may be a session id (16-64 of A-Z a-z 0-9 _ -), checked before any lookup."""
    return _SESSION_ID.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class HistoryChunk:
    """Profit-history points for ticks first_tick..last_tick, as JSON text of the caller's choosing."""

    first_tick: int
    last_tick: int
    points_json: str

    def __post_init__(self) -> None:
        if self.first_tick > self.last_tick:
            raise ValueError(f"history chunk {self.first_tick}..{self.last_tick} runs backwards")


@dataclass(frozen=True, slots=True)
class SaveRecord:
    """One game's save: its whole state, the history played since the last save (if any), and
    the oldest tick it still shows (chunks that end before `keep_from_tick` are pruned).
    `new_history`: the game started over, so its earlier history chunks are deleted first."""

    session_id: str
    tick: int
    state_json: str
    chunk: HistoryChunk | None = None
    keep_from_tick: int = 0
    new_history: bool = False

    def __post_init__(self) -> None:
        if not valid_session_id(self.session_id):
            raise ValueError(f"not a session id: {self.session_id!r}")


@dataclass(frozen=True, slots=True)
class SavedGame:
    """A loaded game: its state JSON as last saved and its history chunks in tick order."""

    session_id: str
    tick: int
    updated_at: float
    state_json: str
    history: tuple[HistoryChunk, ...]

"""The games that could not be saved, and why, in a small file beside the save file.

Why: when saving fails (a full disk, a file made unwritable) and the server then stops or is
killed, a game's latest moves, or the whole game if it was never saved, are gone. Without a record
a returning player was told "saved games expire after 7 days", which blamed the wrong thing. This
file lists the session ids whose saving failed, with the cause in words, so a restart can say
"your game could not be saved (disk full)".

Why a file whose space is taken in advance: the usual cause is a full disk, on which a new file,
or a file that grows, cannot be written. `<database>.unsaved` is written at its full size
(`RESERVE` bytes) when the server starts, and every update rewrites it in place within that size,
so it needs no new disk space. Updates are rare (a game starts or stops failing). A record that
cannot be written (a read-only disk) is kept in memory and said once in the log.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from app.web.save_records import valid_session_id

RESERVE = 64 * 1024  # bytes: about 900 games' entries
_log = logging.getLogger("tycoon.games")


class UnsavedRecord:
    """Session id -> (when saving it failed, the cause in words); kept in `path` when possible."""

    def __init__(self, path: Path | None, entries: dict[str, tuple[float, str]]) -> None:
        """Use `UnsavedRecord.open`; `path` None keeps the record in memory only."""
        self.path = path
        self.entries = entries
        self._complained = False

    @classmethod
    def open(cls, database: Path, max_age_s: float) -> UnsavedRecord:
        """The record beside `database`, read back and written at its full size; entries older
        than `max_age_s` are dropped (their games would have expired anyway)."""
        path = database.with_name(database.name + ".unsaved")
        try:
            text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        except OSError as exc:
            _log.error("cannot read %s (%s): games lost earlier are not told", path, exc)
            text = ""
        cutoff = time.time() - max_age_s
        record = cls(path, {})
        for line in text.splitlines():
            sid, _, rest = line.partition("\t")
            at, _, cause = rest.partition("\t")
            try:
                when = float(at)
            except ValueError:
                continue
            if valid_session_id(sid) and cause and when >= cutoff:
                record.entries[sid] = (when, cause)
        record._write()
        return record

    def cause(self, session_id: str) -> str | None:
        """Why this game could not be saved, or None when it was not recorded."""
        entry = self.entries.get(session_id)
        return entry[1] if entry is not None else None

    def mark(self, session_ids: list[str], cause: str) -> None:
        """These games could not be saved, because of `cause`."""
        now = time.time()
        clean = " ".join(cause.split())
        for sid in session_ids:
            self.entries[sid] = (now, clean)
        self._write()

    def clear(self, session_ids: list[str]) -> None:
        """These games were saved: forget that they were not (no write when none was listed)."""
        gone = [sid for sid in session_ids if self.entries.pop(sid, None) is not None]
        if gone:
            self._write()

    def _write(self) -> None:
        if self.path is None:
            return
        # Milliseconds: a restart compares them with the last save, often under a second before.
        lines = [f"{sid}\t{at:.3f}\t{cause}\n" for sid, (at, cause) in self.entries.items()]
        data = "".join(lines).encode()
        while len(data) >= RESERVE:  # the newest fit; the oldest entries are dropped
            lines.pop(0)
            data = "".join(lines).encode()
        data += b"\n" * (RESERVE - len(data))  # blank lines: the file keeps its size
        try:
            with self.path.open("r+b" if self.path.exists() else "wb") as f:
                f.write(data)
        except OSError as exc:
            if not self._complained:
                self._complained = True
                _log.error(
                    "cannot write %s (%s): which games could not be saved is kept in memory "
                    "only, and a restart will not know",
                    self.path,
                    exc,
                )

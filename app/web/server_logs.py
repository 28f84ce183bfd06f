"""What the server's log says: never a session id, and one line for a websocket closed for bad text.

- The session id is the game's only credential, and it travels in `/ws/game?session=...`;
  uvicorn logged it on every connection (`"WebSocket /ws/game?session=rFToPOYJ_..."
  [accepted]`), so anyone reading the log could take over every game in it. `SessionRedactor`
  replaces the value with `<redacted>` in every record of uvicorn's handlers (the websocket
  lines come from `uvicorn.error`, the HTTP ones from `uvicorn.access`).
- A client that sends a text frame that is not UTF-8 is disconnected by the websocket library
  with code 1007; `websocket_protocol` says so in one line, naming the client and the route
  (the close code the app is told is 1005 or 1006 as often as 1007, so the app cannot).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
from typing import Any

from uvicorn.config import LOGGING_CONFIG

_log = logging.getLogger("uvicorn.error")
# The value of a `session` query parameter, wherever a request target is written.
_SESSION = re.compile(r"(?<=[?&;])(session=)[^&;#\s\"']*")
REDACTED = "<redacted>"
# Websocket close code "invalid frame payload data" (RFC 6455), e.g. text that is not UTF-8.
_INVALID_DATA = 1007


def redact(text: str) -> str:
    """`text` with every `session=` query value replaced by `<redacted>`."""
    return _SESSION.sub(r"\1" + REDACTED, text) if "session=" in text else text


class SessionRedactor(logging.Filter):
    """Takes session ids out of a record's message and arguments (it never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with `SessionRedactor` on each of its handlers."""
    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_sessions"] = {"()": SessionRedactor}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact_sessions")
    return config


def websocket_protocol() -> type[asyncio.Protocol]:
    """uvicorn's websocket protocol on the websockets library (what `ws="auto"` picks), saying
    in one line why it closed a connection with 1007.

    Chosen explicitly, not left to `auto`: uvicorn's other implementation on the same library
    (`websockets-sansio`) logs a full traceback for each such frame. Imported here, when a
    server is configured, as uvicorn does: the module warns that websockets.legacy is deprecated.
    """
    from uvicorn.protocols.websockets.websockets_impl import WebSocketProtocol

    class TextCheckedWebSocketProtocol(WebSocketProtocol):
        def fail_connection(self, code: int = 1006, reason: str = "") -> None:
            if code == _INVALID_DATA and isinstance(self.transfer_data_exc, UnicodeDecodeError):
                who = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
                path = getattr(self, "scope", {}).get("path", "?")
                _log.warning(
                    "%s sent a text frame that is not UTF-8 on %s: connection closed (1007)",
                    who,
                    path,
                )
            super().fail_connection(code, reason)

    return TextCheckedWebSocketProtocol

"""Turning a client's websocket text into a `Command`, or into an error message a person can act on.

Pydantic's own messages name union tags and internal model names; these say what was sent,
what was expected, and which field is wrong.
"""

from __future__ import annotations

import orjson
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from app.web.schemas import COMMAND_ADAPTER, COMMAND_TYPES, Ack, Command


class CommandError(ValueError):
    """A client message that is not a valid command; the message says why."""


def parse_command(text: str, max_bytes: int) -> Command:
    """Validate one client message (JSON text) into a command."""
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        raise CommandError(f"message too large: {size} bytes (the limit is {max_bytes} bytes)")
    try:
        data = orjson.loads(text)  # refuses nesting deeper than 1024 levels, without recursing
    except orjson.JSONDecodeError as exc:
        raise CommandError(
            f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    expected = ", ".join(COMMAND_TYPES)
    if not isinstance(data, dict):
        raise CommandError(
            f"a command must be a JSON object with a 'type' field, got {type(data).__name__}"
        )
    if "type" not in data:
        raise CommandError(f"the command has no 'type' field; expected one of: {expected}")
    kind = data["type"]
    if kind not in COMMAND_TYPES:
        raise CommandError(f"unknown command type {kind!r}; expected one of: {expected}")
    if kind == "ack":  # up to 20 a second per client: skip the error reporting machinery
        seq = data.get("seq")
        if len(data) == 2 and type(seq) is int and seq >= 0:
            return Ack(type="ack", seq=seq)
    try:
        return COMMAND_ADAPTER.validate_python(data)
    except RecursionError:
        raise CommandError("the command is nested too deeply") from None
    except ValidationError as exc:
        problems = "; ".join(_describe(err) for err in exc.errors())
        raise CommandError(f"invalid {kind!r} command: {problems}") from None


# Fields whose rule is best said in words rather than as pydantic's constraint text.
_FIELD_RULES = {
    ("reset", "seed"): f"seed must be a whole number from 0 to {2**32 - 1}",
    ("set_speed", "ticks_per_second"): "ticks_per_second must be a number, 0 or more (0 pauses)",
}


def _describe(err: ErrorDetails) -> str:
    # loc starts with the union tag (the command type); the rest is the field path.
    path = ".".join(str(p) for p in err["loc"][1:]) or "command"
    if err["type"] == "extra_forbidden":
        return f"unexpected field {path!r}"
    if err["type"] == "missing":
        return f"missing field {path!r}"
    rule = _FIELD_RULES.get((str(err["loc"][0]), path))
    got = _short(err.get("input"))
    if rule is not None:
        return f"{rule} (got {got})"
    return f"{path}: {err['msg']} (got {got})"


def _short(value: object, limit: int = 60) -> str:
    """A value as the client sent it, cut short: error frames stay small."""
    try:
        text = repr(value)
    except RecursionError:
        return "a deeply nested value"
    return text if len(text) <= limit else text[: limit - 3] + "..."

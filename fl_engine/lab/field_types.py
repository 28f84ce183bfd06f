"""What type each lab setting takes, and how a wrong value is shown back (issue 20).

`LabConfig` is strict: its own check (`accepted_types`) refuses a value of the wrong type in words
naming the field, before pydantic's generic wording; `shown` quotes the value without ever
repr()-ing a container, so a hostile 1000-deep object cannot exhaust the stack while its error is
written.
"""

from __future__ import annotations

from types import NoneType, UnionType
from typing import Any, Union, get_args, get_origin


def accepted_types(annotation: Any) -> tuple[tuple[type, ...], str]:
    """The Python types a field of this annotation takes from JSON or flags, and their name in
    words; ((), "") for the choice fields, whose wrong values pydantic names with the choices."""
    union = get_origin(annotation) in (Union, UnionType)
    options = [o for o in (get_args(annotation) if union else (annotation,)) if o is not NoneType]
    kinds: dict[Any, tuple[tuple[type, ...], str]] = {
        bool: ((bool,), "true or false"),
        int: ((int,), "a whole number"),
        float: ((int, float), "a number"),
    }
    accepted: tuple[type, ...]
    if get_origin(options[0]) is list:
        accepted, words = (list,), "a list"
    elif options[0] in kinds:
        accepted, words = kinds[options[0]]
    else:
        return (), ""
    if union:  # `X | None`
        return (*accepted, NoneType), f"{words} or null"
    return accepted, words


def shown(value: Any, limit: int = 40) -> str:
    """A value as a user sent it, short, and safe on any input: a container is named, never
    repr()'d (a 1000-deep one would exhaust the stack)."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, dict | list | tuple):
        return "an object" if isinstance(value, dict) else "a list"
    if not isinstance(value, int | float | str):
        return f"a {type(value).__name__}"
    try:
        text = repr(value)
    except ValueError:  # an int of more than 4300 digits
        return "a number too large to show"
    return text if len(text) <= limit else text[: limit - 3] + "..."

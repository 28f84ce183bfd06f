"""How deep a client's JSON nests, measured without recursing (issue 20).

orjson already refuses nesting past 1024 levels, but a value 977 levels deep still exhausted the
stack later, when an error message repr()'d it. Measuring the depth with an explicit stack, before
any validator or repr() sees the value, lets the sockets refuse such a message with an error frame
(`Settings.max_json_depth`); no valid message comes near the limit.
"""

from __future__ import annotations

from typing import Any


def too_deep(value: Any, limit: int) -> bool:
    """True when `value` (as `orjson.loads` returns it) nests objects or lists more than `limit`
    deep: `{}` and `[]` are 1 deep, `{"a": [1]}` 2, a number or a string 0."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False

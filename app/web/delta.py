"""Patches between two JSON values: what a delta frame sends instead of the whole state.

The format (docs/protocol.md, "The patch format") is a JSON object walked key by key: an object
value descends into the target, any other value replaces, `{"=": value}` replaces with an
object, and `{"~": [drop, items]}` drops the first `drop` items of an array and appends `items`
(the event log). Arrays are addressed by decimal-string indices. `static/js/delta.js` is the same `apply`
in the browser; `tests/test_delta.py` holds that applying patches in order rebuilds the state.
"""

from __future__ import annotations

from typing import Any

REPLACE = "="
SHIFT = "~"
# An object with one of these keys is replaced whole: a patch of it would read as an operation.
_RESERVED = frozenset({REPLACE, SHIFT})

JSON = Any  # dict | list | str | int | float | bool | None, nested


def diff(old: JSON, new: JSON) -> dict[str, JSON] | None:
    """The patch that turns object `old` into object `new` (None when they are equal).

    Both must be JSON objects (the top of a state is). Unchanged parts are found cheaply: the
    same object is skipped without a look inside, which is what makes a frame's diff fast when
    the view builder reuses the dictionaries of unchanged parts.
    """
    patch = _diff_value(old, new)
    if patch is _SAME:
        return None
    if not isinstance(patch, dict) or REPLACE in patch:
        raise ValueError("diff needs two JSON objects with the same keys at the top")
    return patch


_SAME = object()


_SCALARS = (int, float, str, bool, type(None))


def _diff_value(old: JSON, new: JSON) -> JSON:
    """A patch value for one position: _SAME, a descending object, or a replacement.

    Written for speed (it runs for every frame of every client): scalars are compared inline,
    without a call, and lists of scalars (sensor readings) without a patch per element.
    """
    if old is new:
        return _SAME
    kind = type(new)
    if kind is dict:
        if type(old) is dict and old.keys() == new.keys() and not _RESERVED & new.keys():
            patch = {}
            for key, value in new.items():
                before = old[key]
                if before is value:
                    continue
                if type(value) in _SCALARS:
                    if type(before) is not type(value) or before != value:
                        patch[key] = value
                    continue
                change = _diff_value(before, value)
                if change is not _SAME:
                    patch[key] = change
            return patch if patch else _SAME
        return _SAME if old == new else {REPLACE: new}
    if kind is list:
        if type(old) is list and len(old) == len(new) and new:
            if all(type(v) in _SCALARS for v in new):
                changed = [
                    i
                    for i, (a, b) in enumerate(zip(old, new, strict=True))
                    if type(a) is not type(b) or a != b
                ]
                if not changed:
                    return _SAME
                if len(changed) * 2 <= len(new):
                    return {str(i): new[i] for i in changed}
                return new
            patch = {}
            for index, (before, after) in enumerate(zip(old, new, strict=True)):
                change = _diff_value(before, after)
                if change is not _SAME:
                    patch[str(index)] = change
            if not patch:
                return _SAME
            if _smaller(patch, new):
                return patch
        if type(old) is list and old != new:
            shift = _shift(old, new)
            if shift is not None:
                return {SHIFT: shift}
        return _SAME if old == new else new
    if type(old) is kind and old == new:  # 1 and 1.0 and True are different JSON
        return _SAME
    return new


def _smaller(patch: dict[str, JSON], new: list[JSON]) -> bool:
    """Whether an index patch beats sending the list whole: it changes at most half the values.

    Objects count by their keys: a factory whose profit and slots changed is patched, an event
    log that shifted by one (every key of every entry changed) is sent whole.
    """
    changed = total = 0
    for index, value in enumerate(new):
        size = len(value) if isinstance(value, dict) and value else 1
        total += size
        change = patch.get(str(index))
        if change is None and str(index) not in patch:
            continue
        changed += len(change) if isinstance(change, dict) and REPLACE not in change else size
    return changed * 2 <= total


def _shift(old: list[JSON], new: list[JSON]) -> list[JSON] | None:
    """[drop, appended] when `new` is `old` minus its first `drop` items plus `appended` (a log
    that keeps its latest entries); None when it is not, or when nothing of `old` is kept."""
    if not old:
        return None
    first = old.index(new[0]) if new and new[0] in old else -1
    if first < 0:
        return None
    kept = len(old) - first
    if kept > len(new) or old[first:] != new[:kept]:
        return None
    return [first, new[kept:]]


def apply(target: JSON, patch: dict[str, JSON]) -> JSON:
    """Apply `patch` to `target` in place and return it (for tests and the property check)."""
    for key, value in patch.items():
        slot: int | str = int(key) if isinstance(target, list) else key
        if isinstance(value, dict) and REPLACE in value:
            target[slot] = value[REPLACE]
        elif isinstance(value, dict) and SHIFT in value:
            drop, appended = value[SHIFT]
            target[slot] = target[slot][drop:] + appended
        elif isinstance(value, dict):
            apply(target[slot], value)
        else:
            target[slot] = value
    return target

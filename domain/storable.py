"""Input that PostgreSQL can store and every reader can decode, checked once for every command.

PostgreSQL text and jsonb cannot hold U+0000, and a lone surrogate (U+D800-U+DFFF alone) is not
Unicode text at all: it cannot be encoded as UTF-8. Either would be accepted by pydantic inside
free-form data and then break the event encoder or the read side later, so they are refused
where the body enters, with the path of each string (or dictionary key) that holds one.

Integers must fit in 64 bits (signed): JSON allows any size, but orjson, jsonb's casts to
bigint and most clients do not.

Nesting is bounded for the same reason: encoders (orjson stops at 255 levels), the rules
checker and the projections all walk values recursively.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from domain.fields import DataInvalid, FieldError

MAX_DEPTH = 64
"""Levels of objects and arrays in a command body; rules and JSON data need far fewer."""
MAX_FAULTS = 20
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
INT64 = range(-(2**63), 2**63)
Path = tuple[str | int, ...]


def why_unstorable(text: str) -> str | None:
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    char = found.group()
    if char == "\x00":
        return "contains NUL (U+0000), which cannot be stored"
    return f"contains a lone surrogate (U+{ord(char):04X}), which is not valid Unicode text"


def _shown(key: str) -> str:
    """A key fit to echo in a path: what cannot be stored is written as an escape."""
    return _UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", key)


def unstorable(value: Any, root: Path = ()) -> list[FieldError]:
    """Every string or key in `value` that cannot be stored, and any nesting over MAX_DEPTH.

    Iterative, so a hostile depth cannot exhaust the interpreter's stack while it is checked.
    """
    faults: list[FieldError] = []
    stack: list[tuple[Any, Path, int]] = [(value, root, 0)]
    while stack and len(faults) < MAX_FAULTS:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            why = why_unstorable(item)
            if why:
                faults.append(FieldError(path, why))
            continue
        if isinstance(item, int) and not isinstance(item, bool) and item not in INT64:
            faults.append(FieldError(path, "is an integer outside the 64-bit range"))
            continue
        if not isinstance(item, Mapping | list | tuple):
            continue
        if depth >= MAX_DEPTH:
            faults.append(FieldError(path, f"nested deeper than {MAX_DEPTH} levels"))
            continue
        children: list[tuple[Any, Path, int]] = []
        if isinstance(item, Mapping):
            for key, inner in item.items():
                if isinstance(key, str) and (why := why_unstorable(key)):
                    faults.append(FieldError((*path, _shown(key)), f"the key {why}"))
                else:
                    children.append((inner, (*path, key), depth + 1))
        else:
            children = [(inner, (*path, n), depth + 1) for n, inner in enumerate(item)]
        stack.extend(reversed(children))  # popped in the order the body was written
    return faults


def require_storable(value: Any, root: Path = ()) -> None:
    faults = unstorable(value, root)
    if faults:
        raise DataInvalid(faults)

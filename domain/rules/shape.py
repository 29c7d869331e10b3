"""The structure of a rule: operators, their arity, and the paths that name each part.

A rule is JSON: an operation is an object with exactly one key (the operator) whose value is
the argument list, or a single argument (`{"var": "a"}` is `{"var": ["a"]}`). Any other value
is a literal; a list is a list of expressions, as in JsonLogic.

Two ways to name a part, both derived from the same walk so they never disagree:
- `path`, a tuple for InvalidInput: ("condition", "and", 0, ">=", 0, "var");
- `pointer`, a JSON pointer (RFC 6901) for traces: "/and/0".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.errors import InvalidInput

Path = tuple[str | int, ...]

MAX_NODES = 1_000
MAX_DEPTH = 32


@dataclass(frozen=True)
class Arity:
    low: int
    high: int | None  # None: unbounded
    usage: str

    def allows(self, count: int) -> bool:
        return count >= self.low and (self.high is None or count <= self.high)


def _a(low: int, high: int | None, usage: str) -> Arity:
    return Arity(low, high, usage)


ARITY: dict[str, Arity] = {
    "var": _a(0, 2, '{"var": "path"} or {"var": ["path", default]}'),
    "==": _a(2, 2, "[a, b]"),
    "!=": _a(2, 2, "[a, b]"),
    "===": _a(2, 2, "[a, b]"),
    "!==": _a(2, 2, "[a, b]"),
    "<": _a(2, 3, "[a, b] or [low, x, high]"),
    "<=": _a(2, 3, "[a, b] or [low, x, high]"),
    ">": _a(2, 2, "[a, b]"),
    ">=": _a(2, 2, "[a, b]"),
    "and": _a(1, None, "[condition, ...]"),
    "or": _a(1, None, "[condition, ...]"),
    "!": _a(1, 1, "[value]"),
    "!!": _a(1, 1, "[value]"),
    "if": _a(1, None, "[condition, then, (condition, then, ...) else]"),
    "in": _a(2, 2, "[item, list or text]"),
    "missing": _a(1, None, '["path", ...]'),
    "missing_some": _a(2, 2, '[count, ["path", ...]]'),
    "some": _a(2, 2, "[list, condition on each item]"),
    "all": _a(2, 2, "[list, condition on each item]"),
    "none": _a(2, 2, "[list, condition on each item]"),
    "+": _a(1, None, "[number, ...]"),
    "*": _a(1, None, "[number, ...]"),
    "-": _a(1, 2, "[a, b] or [a]"),
    "/": _a(2, 2, "[a, b]"),
    "%": _a(2, 2, "[a, b]"),
    "min": _a(1, None, "[number, ...]"),
    "max": _a(1, None, "[number, ...]"),
    "cat": _a(1, None, "[value, ...]"),
    "contains": _a(2, 2, "[list or text, item]"),
    "starts_with": _a(2, 2, "[text, prefix]"),
    "ends_with": _a(2, 2, "[text, suffix]"),
    "between": _a(3, 3, "[value, low, high]"),
    "matches": _a(2, 2, '[text, "pattern"]'),
    "before": _a(2, 2, "[date, date]"),
    "after": _a(2, 2, "[date, date]"),
    "on_or_before": _a(2, 2, "[date, date]"),
    "on_or_after": _a(2, 2, "[date, date]"),
    "within_last_days": _a(2, 2, "[date, days]"),
    "within_next_days": _a(2, 2, "[date, days]"),
    "changed": _a(1, 1, '["path"]'),
    "changed_from": _a(2, 2, '["path", value]'),
    "changed_to": _a(2, 2, '["path", value]'),
    "within_km": _a(4, 4, "[point, lat, lon, km]"),
    "today": _a(1, 1, "days from today, e.g. 0 or -7"),
}


@dataclass(frozen=True)
class Call:
    """One operation in a rule, with the names of where it and its arguments are."""

    op: str
    args: list[Any]
    listed: bool  # whether the arguments were written as a list
    path: Path
    pointer: str

    def arg_path(self, index: int) -> Path:
        return (*self.path, self.op, index) if self.listed else (*self.path, self.op)

    def arg_pointer(self, index: int) -> str:
        key = f"{self.pointer}/{escape(self.op)}"
        return f"{key}/{index}" if self.listed else key


def escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def as_call(node: object, path: Path, pointer: str) -> Call | None:
    """The operation `node` is, or None for a literal (including objects of 0 or 2+ keys)."""
    if type(node) is not dict or len(node) != 1:
        return None
    ((op, raw),) = node.items()
    listed = type(raw) is list
    return Call(str(op), raw if listed else [raw], listed, path, pointer)


def known_call(node: object, path: Path, pointer: str) -> Call | None:
    """Like as_call, but refuses unknown operators and wrong argument counts."""
    call = as_call(node, path, pointer)
    if call is None:
        return None
    arity = ARITY.get(call.op)
    if arity is None:
        raise InvalidInput(unknown_operator(call.op), (*path, call.op))
    if not arity.allows(len(call.args)):
        raise InvalidInput(
            f"{call.op!r} takes {count_text(arity)}: {arity.usage}; got {len(call.args)}",
            (*path, call.op),
        )
    return call


def unknown_operator(op: str) -> str:
    from difflib import get_close_matches

    close = get_close_matches(op, ARITY, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown operator {op!r}{hint}; known: {', '.join(sorted(ARITY))}"


def count_text(arity: Arity) -> str:
    if arity.high == arity.low:
        return f"{arity.low} argument{'s' if arity.low != 1 else ''}"
    if arity.high is None:
        return f"at least {arity.low} argument{'s' if arity.low != 1 else ''}"
    return f"{arity.low} to {arity.high} arguments"


def guard_size(rule: object, path: Path) -> None:
    """Refuses rules too big or too deep before anything recurses into them.

    Depth counts operations and nested lists (an operation's own argument list does not count),
    which is the nesting a user sees; iterative so a hostile rule cannot exhaust the stack here.
    """
    count = 0
    todo: list[tuple[object, int, Path]] = [(rule, 0, path)]
    while todo:
        node, depth, where = todo.pop()
        count += 1
        if count > MAX_NODES:
            raise InvalidInput(
                f"is too large: more than {MAX_NODES:,} parts; split it or simplify it", path
            )
        if type(node) is dict:
            if len(node) == 1:
                ((op, raw),) = node.items()
                depth += 1
                _too_deep(depth, where)
                if type(raw) is list:
                    count += 1
                    todo.extend((item, depth, (*where, op, i)) for i, item in enumerate(raw))
                else:
                    todo.append((raw, depth, (*where, op)))
            else:
                depth += 1
                _too_deep(depth, where)
                todo.extend((value, depth, (*where, str(key))) for key, value in node.items())
        elif type(node) is list:
            depth += 1
            _too_deep(depth, where)
            todo.extend((item, depth, (*where, i)) for i, item in enumerate(node))


def _too_deep(depth: int, where: Path) -> None:
    if depth > MAX_DEPTH:
        raise InvalidInput(f"nests more than {MAX_DEPTH} levels deep; flatten it", where)

"""The rule checker's walker: the type of every part of a rule, and where variables come from.

check_rule (check.py) refuses a rule that cannot mean what its author wants. The checker infers a type for every part of the rule from the trigger's typed variables and
refuses unknown operators and variables, wrong argument counts, operands of the wrong type,
unsafe patterns and change operators where nothing changed. Faults name the exact part by its
JSON path, e.g. ("condition", "and", 0, ">=", 0, "var"), and say what would be accepted.

"any" (a json field, or anything below it) accepts every use: the rule is then only as
checked as JsonLogic itself, which is the price of untyped data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any, Protocol

from domain.errors import InvalidInput
from domain.fields import VarType
from domain.rules.nodes import NOT_CONSTANT
from domain.rules.shape import Call, Path, known_call

_LISTED_KNOWN = 10


@dataclass(frozen=True)
class Typed:
    """What the checker knows about one part of a rule."""

    kind: str  # a VarType, or "null"
    label: str  # how messages name it: "data.name (text)", "the number 3"
    literal: Any = NOT_CONSTANT
    item: str = "any"  # kind of the items, for a list

    @property
    def is_literal(self) -> bool:
        return self.literal is not NOT_CONSTANT


ANY = Typed("any", "a value")


def literal(value: object, path: Path) -> Typed:
    if value is None:
        return Typed("null", "null", None)
    if type(value) is bool:
        return Typed("boolean", "true" if value else "false", value)
    if type(value) is int or type(value) is float:
        if not math.isfinite(value):
            raise InvalidInput("must be a finite number", path)
        return Typed("number", f"the number {value!r}", value)
    if type(value) is str:
        return Typed("text", f"the text {value!r}", value)
    raise InvalidInput(f"is not a JSON value (a {type(value).__name__})", path)


def result(op: str, kind: str) -> Typed:
    return Typed(kind, f"the result of {op!r} ({kind})")


@dataclass(frozen=True)
class Scope:
    """Where `var` reads: the record (item is None) or the current item of some/all/none."""

    item: str | None = None


TOP = Scope()


class Signature(Protocol):
    """What one operator accepts (raising InvalidInput) and what it gives."""

    def __call__(self, ck: Checker, call: Call, scope: Scope, /) -> Typed: ...


class Checker:
    def __init__(
        self,
        variables: Mapping[str, VarType],
        changes: bool,
        signatures: Mapping[str, Signature],
    ) -> None:
        self.variables = variables
        self.changes = changes
        self.signatures = signatures

    def expr(self, node: object, path: Path, scope: Scope) -> Typed:
        call = known_call(node, path, "")
        if call is not None:
            return self.signatures[call.op](self, call, scope)
        if type(node) is dict:
            keys = ", ".join(repr(k) for k in list(node)[:3])
            raise InvalidInput(
                'an operation must be an object with exactly one key, like {"var": "data.x"}; '
                f"this one has {len(node)} keys{': ' + keys if node else ''}",
                path,
            )
        if type(node) is list:
            items = [self.expr(item, (*path, i), scope) for i, item in enumerate(node)]
            kinds = {t.kind for t in items}
            values = [t.literal for t in items]
            constant = values if all(t.is_literal for t in items) else NOT_CONSTANT
            item_kind = kinds.pop() if len(kinds) == 1 else "any"
            return Typed("list", "a list", constant, item_kind)
        return literal(node, path)

    def arg(self, call: Call, index: int, scope: Scope) -> Typed:
        return self.expr(call.args[index], call.arg_path(index), scope)

    def args(self, call: Call, scope: Scope) -> list[Typed]:
        return [self.arg(call, i, scope) for i in range(len(call.args))]

    def variable(self, name: str, scope: Scope, path: Path) -> Typed:
        """The type of `var` `name` read in `scope`; InvalidInput when nothing has that name."""
        if scope.item is not None:
            if name == "":
                return Typed(scope.item, f"the current item ({scope.item})")
            kind = self._member(scope.item, name.split("."), "the current item", path)
            return Typed(kind, f"item.{name} ({kind})")
        if name == "":
            return Typed("any", "the whole record")
        kind = self._top_level(name, path)
        return Typed(kind, f"{name} ({kind})")

    def _top_level(self, name: str, path: Path) -> str:
        known = self.variables.get(name)
        if known is not None:
            return known
        parts = name.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            prefix = ".".join(parts[:cut])
            if prefix in self.variables:
                return self._member(self.variables[prefix], parts[cut:], prefix, path)
        if any(key.startswith(f"{name}.") for key in self.variables):
            return "any"  # e.g. "data": the object holding the typed fields
        raise InvalidInput(unknown_variable(name, self.variables), path)

    def _member(self, kind: str, rest: list[str], owner: str, path: Path) -> str:
        if kind == "any":
            return "any"
        if kind == "geo" and rest in (["lat"], ["lon"]):
            return "number"
        if kind == "list" and rest[0].isascii() and rest[0].isdecimal():
            return "any"
        raise InvalidInput(
            f"{owner} is {_kind_text(kind)} and has no part {rest[0]!r}"
            + ("; a point has lat and lon" if kind == "geo" else ""),
            path,
        )

    def require_changes(self, call: Call) -> None:
        if not self.changes:
            raise InvalidInput(
                f"{call.op!r} needs the value before the change, which only an "
                '"entity_changed" trigger has',
                (*call.path, call.op),
            )


def unknown_variable(name: str, variables: Mapping[str, VarType]) -> str:
    if name.startswith("data."):
        field = name.split(".")[1]
        what = f"unknown field {field!r}"
        known = sorted(k for k in variables if k.startswith("data."))
        # Compared without the shared "data." that would make every field look alike; a
        # record-level variable of that name ("location") is a likely mix-up too.
        suggestion = _suggest(field, [k[5:] for k in known])
        suggestion = f"data.{suggestion}" if suggestion else _suggest(field, list(variables))
    else:
        what = f"unknown variable {name!r}"
        known = sorted(variables)
        suggestion = _suggest(name, known)
    hint = f" (did you mean {suggestion}?)" if suggestion else ""
    shown = ", ".join(known[:_LISTED_KNOWN]) + (", …" if len(known) > _LISTED_KNOWN else "")
    return f"{what}{hint}; known: {shown or 'none'}"


def _suggest(typed: str, candidates: list[str]) -> str | None:
    """An abbreviation ("sev") or a near spelling ("ocurred_at") of a known name."""
    if not typed:
        return None
    starting = sorted(c for c in candidates if c.startswith(typed))
    if starting:
        return starting[0]
    close = get_close_matches(typed, candidates, n=1, cutoff=0.75)
    return close[0] if close else None


def _kind_text(kind: str) -> str:
    return {
        "geo": "a point",
        "list": "a list",
        "any": "any value",
        "null": "null",
    }.get(kind, kind)

"""Row filters of read grants: a small part of the rules language that a database can check.

A row rule decides which records a role reads, e.g. "Sites of my region":
`{"==": [{"var": "data.region"}, {"var": "me.claims.region"}]}`. It may use
- `and`, `or`, `!`; `==`, `!=`, `<`, `<=`, `>`, `>=`; `in` (a value among a list);
- on the record: `{"var": "data.<field>"}` and `{"var": "title"}`;
- of the reader (its session variables): `{"var": "me.actor"}` and `{"var": "me.claims.<claim>"}`
  (claims of its token), and literal strings, numbers, booleans, null and lists of them.

`bind` puts the reader's values in, giving a `Row` tree that a read model turns into a SQL
predicate. A comparison with something missing (a field, a claim) is false: a rule never shows
more because a value is absent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain.errors import InvalidInput

COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
_FIELD = re.compile(r"^data\.([a-z][a-z0-9_]{0,62})$")
_CLAIM = re.compile(r"^me\.claims\.([A-Za-z0-9_.:-]{1,100})$")
MAX_NODES = 200
Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Field:
    """A value of the record: `data.<name>` or the title."""

    name: str
    in_data: bool = True


@dataclass(frozen=True, slots=True)
class Compare:
    op: str
    field: Field
    value: Any
    """A JSON value (never None: comparing with something missing is false)."""


@dataclass(frozen=True, slots=True)
class Among:
    field: Field
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class AllOf:
    parts: tuple[Row, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    parts: tuple[Row, ...]


@dataclass(frozen=True, slots=True)
class Not:
    part: Row


@dataclass(frozen=True, slots=True)
class Constant:
    value: bool


Row = Compare | Among | AllOf | AnyOf | Not | Constant


def check_row_rule(rule: Any, path: Path = ("where",)) -> None:
    """Refuse what `bind` could not turn into a predicate, with the JSON path of the fault."""
    counter = [0]
    _walk(rule, path, {"actor": "", "claims": {}}, counter)


def bind(rule: Any, actor: str, claims: Mapping[str, Any]) -> Row:
    """The rule with the reader's values in (a rule that passed `check_row_rule`)."""
    return _walk(rule, ("where",), {"actor": actor, "claims": claims}, [0])


def _walk(rule: Any, path: Path, me: Mapping[str, Any], counter: list[int]) -> Row:
    counter[0] += 1
    if counter[0] > MAX_NODES:
        raise InvalidInput(f"a row rule has at most {MAX_NODES} parts", path)
    if isinstance(rule, bool):
        return Constant(rule)
    if not isinstance(rule, dict) or len(rule) != 1:
        raise InvalidInput("a row rule is an object with one operator", path)
    [(op, args)] = rule.items()
    here = (*path, op)
    if op in ("and", "or"):
        if not isinstance(args, list) or not args:
            raise InvalidInput(f"{op!r} takes a non-empty list of rules", here)
        parts = tuple(_walk(a, (*here, i), me, counter) for i, a in enumerate(args))
        return AllOf(parts) if op == "and" else AnyOf(parts)
    if op == "!":
        inner = args[0] if isinstance(args, list) and len(args) == 1 else args
        return Not(_walk(inner, here, me, counter))
    if op in COMPARISONS or op == "in":
        if not isinstance(args, list) or len(args) != 2:
            raise InvalidInput(f"{op!r} takes two operands", here)
        return _comparison(op, args, here, me)
    known = ", ".join(("and", "or", "!", *COMPARISONS, "in"))
    raise InvalidInput(f"unknown operator {op!r} in a row rule (use {known})", here)


def _comparison(op: str, args: list[Any], path: Path, me: Mapping[str, Any]) -> Row:
    left, right = (_operand(a, (*path, i), me) for i, a in enumerate(args))
    if isinstance(right, Field) and not isinstance(left, Field) and op != "in":
        left, right = right, left
        op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
    if not isinstance(left, Field) or isinstance(right, Field):
        raise InvalidInput("compare one field of the record with a value", path)
    value = right.value if isinstance(right, _Value) else None
    if op == "in":
        if value is None:
            return Constant(False)
        if not isinstance(value, list) or any(isinstance(v, list | dict) for v in value):
            raise InvalidInput("'in' takes a list of plain values", (*path, 1))
        return Among(left, tuple(v for v in value if v is not None))
    if value is None:
        return Constant(False)
    if isinstance(value, list | dict):
        raise InvalidInput(f"{op!r} compares with a plain value", (*path, 1))
    return Compare(op, left, value)


@dataclass(frozen=True, slots=True)
class _Value:
    value: Any


def _operand(arg: Any, path: Path, me: Mapping[str, Any]) -> Field | _Value:
    if isinstance(arg, dict):
        if set(arg) != {"var"} or not isinstance(arg["var"], str):
            raise InvalidInput("an operand is {'var': name} or a plain value", path)
        name: str = arg["var"]
        if name == "title":
            return Field("title", in_data=False)
        if found := _FIELD.match(name):
            return Field(found.group(1))
        if name == "me.actor":
            return _Value(me["actor"])
        if found := _CLAIM.match(name):
            return _Value(me["claims"].get(found.group(1)))
        raise InvalidInput(
            f"unknown variable {name!r} (use data.<field>, title, me.actor, me.claims.<claim>)",
            (*path, "var"),
        )
    if isinstance(arg, list):
        if any(isinstance(v, list | dict) for v in arg):
            raise InvalidInput("a list holds plain values", path)
        return _Value(arg)
    if arg is None or isinstance(arg, str | int | float | bool):
        return _Value(arg)
    raise InvalidInput("not a value", path)

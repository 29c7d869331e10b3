"""Row filters of read grants: a small part of the rules language that a database can check.

A row rule decides which records a role reads, e.g. "Sites of my region":
`{"==": [{"var": "data.region"}, {"var": "me.claims.region"}]}`. It may use
- `and`, `or`, `!`; `==`, `!=`, `<`, `<=`, `>`, `>=`; `in` (a value among a list);
- on the record, what its area has (`RECORDS`): `{"var": "data.<field>"}` everywhere, `title` of
  entities and processes, `kind`, `stage` and `status` of processes, and their `participants`, a
  set tested only as `{"in": [<value>, {"var": "participants"}]}`; `kind` and `process_id` of
  occurrences, and their `participants` and `entities` (sets of ids, tested the same way);
  times (`created_at`/`updated_at` of entities; `opened_at`, `updated_at`, `due_at`, `closed_at`
  of processes; `occurred_at`, `recorded_at` of occurrences), compared with ISO 8601 times
  with an offset, as instants;
- of the reader (its session variables): `{"var": "me.actor"}`, `{"var": "me.participant_id"}`
  (its token's `participant_id` claim) and `{"var": "me.claims.<claim>"}` (any claim of its
  token), and literal strings, numbers, booleans, null and lists of them.

`bind` puts the reader's values in, giving a `Row` tree that a read model turns into a SQL
predicate. A comparison with something missing (a field, a claim) is false: a rule never shows
more because a value is absent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.errors import InvalidInput

COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
_FIELD = re.compile(r"^data\.([a-z][a-z0-9_]{0,62})$")
_CLAIM = re.compile(r"^me\.claims\.([A-Za-z0-9_.:-]{1,100})$")
MAX_NODES = 200
Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Record:
    """What a row rule may name of one area's records."""

    columns: tuple[str, ...]
    """Plain columns, compared like data fields."""
    sets: tuple[str, ...] = ()
    """Columns holding a set of ids, only asked whether they hold a value (`in`)."""
    times: tuple[str, ...] = ()
    """Columns holding a time, compared with times (ISO 8601 with an offset)."""

    def variables(self) -> str:
        return ", ".join(("data.<field>", *self.columns, *self.times, *self.sets, *_ME))


RECORDS: dict[str, Record] = {
    "entities": Record(("title",), times=("created_at", "updated_at")),
    "processes": Record(
        ("kind", "stage", "status", "title"),
        ("participants",),
        ("opened_at", "updated_at", "due_at", "closed_at"),
    ),
    "occurrences": Record(
        ("kind", "process_id"), ("participants", "entities"), ("occurred_at", "recorded_at")
    ),
}
"""Read area → what its row rules may name of a record (the read model has these columns)."""
_ME = ("me.actor", "me.participant_id", "me.claims.<claim>")


@dataclass(frozen=True, slots=True)
class Field:
    """A value of the record: `data.<name>`, or a column (`title`, `stage`…)."""

    name: str
    in_data: bool = True
    time: bool = False
    """A time column: compared with times only, as times."""


@dataclass(frozen=True, slots=True)
class Holds:
    """The record's set column (its participants) holds `value`."""

    column: str
    value: str


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


Row = Compare | Among | Holds | AllOf | AnyOf | Not | Constant


@dataclass(frozen=True, slots=True)
class _Me:
    """The reader's session variables, and what its area's records have."""

    actor: str
    claims: Mapping[str, Any]
    area: str
    record: Record


def check_row_rule(rule: Any, area: str, path: Path = ("where",)) -> None:
    """Refuse what `bind` could not turn into a predicate, with the JSON path of the fault."""
    record = RECORDS.get(area)
    if record is None:
        raise InvalidInput(f"row rules are for {', '.join(sorted(RECORDS))}", path)
    _walk(rule, path, _Me("", {}, area, record), [0])


def bind(rule: Any, area: str, actor: str, claims: Mapping[str, Any]) -> Row:
    """The rule with the reader's values in (a rule that passed `check_row_rule` for `area`)."""
    return _walk(rule, ("where",), _Me(actor, claims, area, RECORDS[area]), [0])


def _walk(rule: Any, path: Path, me: _Me, counter: list[int]) -> Row:
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


def _comparison(op: str, args: list[Any], path: Path, me: _Me) -> Row:
    left, right = (_operand(a, (*path, i), me) for i, a in enumerate(args))
    if isinstance(right, _Set) and isinstance(left, _Value) and op == "in":
        return _holds(right.column, left, (*path, 0))
    for i, side in enumerate((left, right)):
        if isinstance(side, _Set):
            raise InvalidInput(
                f"{side.column!r} is a set: ask whether it holds a value, "
                f'{{"in": [<value>, {{"var": "{side.column}"}}]}}',
                (*path, i),
            )
    if isinstance(right, Field) and not isinstance(left, Field) and op != "in":
        left, right = right, left
        op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
    if not isinstance(left, Field) or isinstance(right, Field):
        raise InvalidInput("compare one field of the record with a value", path)
    value = right.value if isinstance(right, _Value) else None
    literal = isinstance(right, _Value) and right.literal
    if op == "in":
        if value is None:
            return Constant(False)
        if not isinstance(value, list) or any(isinstance(v, list | dict) for v in value):
            return _refused(literal, "'in' takes a list of plain values", (*path, 1))
        if left.time:
            times = tuple(
                _at_time("==", left, v, literal, (*path, 1)) for v in value if v is not None
            )
            return AnyOf(times) if times else Constant(False)
        return Among(left, tuple(v for v in value if v is not None))
    if value is None:
        return Constant(False)
    if isinstance(value, list | dict):
        return _refused(literal, f"{op!r} compares with a plain value", (*path, 1))
    if left.time:
        return _at_time(op, left, value, literal, (*path, 1))
    return Compare(op, left, value)


def _at_time(op: str, field: Field, value: Any, literal: bool, path: Path) -> Row:
    """A time column against a time: the value as the time it names (any offset), so
    PostgreSQL compares instants, not strings."""
    when = _time(value)
    if when is None:
        return _refused(
            literal,
            f"{field.name!r} is a time: compare it with an ISO 8601 time with its offset, "
            'such as "2026-01-31T08:00:00Z"',
            path,
        )
    return Compare(op, field, when.isoformat())


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _holds(column: str, given: _Value, path: Path) -> Row:
    if given.value is None:
        return Constant(False)
    if not isinstance(given.value, str):
        return _refused(given.literal, f"{column!r} holds ids: ask for a string", path)
    return Holds(column, _canonical(given.value))


def _refused(literal: bool, message: str, path: Path) -> Row:
    """A rule's own value of the wrong shape is refused when the role is saved; a reader's
    (a claim of its token) is as good as missing: false, never a failed read."""
    if literal:
        raise InvalidInput(message, path)
    return Constant(False)


def _canonical(value: str) -> str:
    """A UUID as the read model writes it (lower case, hyphens), whatever a token's spelling."""
    try:
        return str(UUID(value))
    except ValueError:
        return value


@dataclass(frozen=True, slots=True)
class _Value:
    value: Any
    literal: bool = True
    """Written in the rule (else: one of the reader's session variables)."""


@dataclass(frozen=True, slots=True)
class _Set:
    column: str


def _operand(arg: Any, path: Path, me: _Me) -> Field | _Set | _Value:
    if isinstance(arg, dict):
        if set(arg) != {"var"} or not isinstance(arg["var"], str):
            raise InvalidInput("an operand is {'var': name} or a plain value", path)
        name: str = arg["var"]
        if name in me.record.columns:
            return Field(name, in_data=False)
        if name in me.record.times:
            return Field(name, in_data=False, time=True)
        if name in me.record.sets:
            return _Set(name)
        if found := _FIELD.match(name):
            return Field(found.group(1))
        if name == "me.actor":
            return _Value(me.actor, literal=False)
        if name == "me.participant_id":
            # Only a string names a participant: anything else is as good as missing.
            given = me.claims.get("participant_id")
            return _Value(given if isinstance(given, str) and given else None, literal=False)
        if found := _CLAIM.match(name):
            return _Value(me.claims.get(found.group(1)), literal=False)
        raise InvalidInput(
            f"unknown variable {name!r} (a rule on {me.area} uses {me.record.variables()})",
            (*path, "var"),
        )
    if isinstance(arg, list):
        if any(isinstance(v, list | dict) for v in arg):
            raise InvalidInput("a list holds plain values", path)
        return _Value(arg)
    if arg is None or isinstance(arg, str | int | float | bool):
        return _Value(arg)
    raise InvalidInput("not a value", path)

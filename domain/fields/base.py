"""The strategy registry and the constraint helpers the strategies share.

Each field type owns its rules in one class, so adding a type never touches a central switch.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, Literal, Protocol, TypeVar

from domain.fields.cells import CellContext, cell_text
from domain.fields.errors import FieldError
from domain.fields.spec import FieldSpec

VarType = Literal["number", "text", "boolean", "date", "datetime", "list", "geo", "any"]
"""What a rule may do with a value: which operators apply, what it compares with."""

Problem = tuple[str, str]
"""(constraint key, message): keyed so check_schema can point at the offending constraint."""


class FieldStrategy(ABC):
    name: ClassVar[str]
    allowed_constraints: ClassVar[frozenset[str]] = frozenset()
    can_be_unique: ClassVar[bool] = True
    text_like: ClassVar[bool] = False
    """Whether the value carries words worth full-text indexing (gates FieldSpec.searchable;
    with no field marked searchable, every text-like field is indexed)."""
    rule_type: ClassVar[VarType] = "any"
    """The value's type in the rule language ("any": checked only when evaluated)."""

    def check_constraints(self, spec: FieldSpec) -> list[str]:
        return [f"{key}: {message}" for key, message in self.constraint_problems(spec)]

    def constraint_problems(self, spec: FieldSpec) -> list[Problem]:
        """Only known keys are examined; unknown keys are check_schema's concern."""
        return []

    @abstractmethod
    def validate(self, value: object, spec: FieldSpec) -> object:
        """Assumes the spec passed check_schema; raises ValueError on a bad value."""

    def from_cell(self, value: object, cells: CellContext) -> object:
        """A spreadsheet cell as the value `validate` takes (domain.fields.cells); by default
        as text, where it is a number or a date a workbook typed for it."""
        return cell_text(value)

    def unique_key(self, value: object) -> str:
        """Canonical form of an already-validated value, so equal values claim the same key."""
        if isinstance(value, str):
            return value
        return json.dumps(value, sort_keys=True, separators=(",", ":"))


STRATEGIES: dict[str, FieldStrategy] = {}

_C = TypeVar("_C", bound=type[FieldStrategy])


def register(cls: _C) -> _C:
    if cls.name in STRATEGIES:
        raise ValueError(f"field type {cls.name!r} is registered twice")
    STRATEGIES[cls.name] = cls()
    return cls


def strategy_for(type_name: str) -> FieldStrategy:
    try:
        return STRATEGIES[type_name]
    except (KeyError, TypeError):
        raise FieldError((), f"unknown field type {type_name!r}") from None


class _Ordered(Protocol):
    def __lt__(self, other: Any, /) -> bool: ...


_T = TypeVar("_T", bound=_Ordered)


def range_problems(
    spec: FieldSpec, low_key: str, high_key: str, parse: Callable[[object], _T]
) -> list[Problem]:
    """Both bounds must parse, and the lower must not exceed the upper."""
    parsed: dict[str, _T] = {}
    problems: list[Problem] = []
    for key in (low_key, high_key):
        if key in spec.constraints:
            try:
                parsed[key] = parse(spec.constraints[key])
            except ValueError as exc:
                problems.append((key, str(exc)))
    if low_key in parsed and high_key in parsed and parsed[high_key] < parsed[low_key]:
        problems.append((low_key, f"must not be greater than {high_key}"))
    return problems


def bound(spec: FieldSpec, key: str, parse: Callable[[object], _T]) -> _T | None:
    raw = spec.constraints.get(key)
    return None if raw is None else parse(raw)


def parse_count(raw: object) -> int:
    """Lengths, item counts and byte sizes: a non-negative integer."""
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise ValueError("must be a non-negative integer")
    return raw


def parse_number(raw: object) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError("must be a number")
    if isinstance(raw, float) and not math.isfinite(raw):
        raise ValueError("must be a finite number")
    return raw


def check_number_range(value: float, spec: FieldSpec) -> None:
    low = bound(spec, "min", parse_number)
    high = bound(spec, "max", parse_number)
    if low is not None and value < low:
        raise ValueError(f"must be at least {low}")
    if high is not None and value > high:
        raise ValueError(f"must be at most {high}")


def number_key(value: object) -> str:
    """1 and 1.0 must collide, so integral floats are written as integers."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def describe_choices(values: list[str], limit: int = 10) -> str:
    shown = ", ".join(repr(value) for value in values[:limit])
    return f"{shown}, …" if len(values) > limit else shown

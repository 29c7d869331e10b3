"""Numbers, booleans and points in time."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from domain.fields.base import (
    FieldStrategy,
    Problem,
    bound,
    check_number_range,
    number_key,
    parse_number,
    range_problems,
    register,
)
from domain.fields.cells import CellContext, cell_boolean, cell_date, cell_datetime, cell_number
from domain.fields.spec import FieldSpec

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_DATE_SHAPE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MAX_DATETIME_LENGTH = 64


@register
class IntegerField(FieldStrategy):
    """64-bit bounded so the value can be sorted and cast in SQL without overflow."""

    name = "integer"
    rule_type = "number"
    allowed_constraints = frozenset({"min", "max"})

    def constraint_problems(self, spec: FieldSpec) -> list[Problem]:
        return range_problems(spec, "min", "max", parse_number)

    def from_cell(self, value: object, cells: CellContext) -> object:
        return cell_number(value, cells)

    def validate(self, value: object, spec: FieldSpec) -> object:
        # JSON encoders in other languages often write 3 as 3.0; that is still an integer.
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be a whole number")
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError("must fit in a 64-bit signed integer")
        check_number_range(value, spec)
        return value

    def unique_key(self, value: object) -> str:
        return number_key(value)


@register
class NumberField(FieldStrategy):
    name = "number"
    rule_type = "number"
    allowed_constraints = frozenset({"min", "max"})

    def constraint_problems(self, spec: FieldSpec) -> list[Problem]:
        return range_problems(spec, "min", "max", parse_number)

    def from_cell(self, value: object, cells: CellContext) -> object:
        return cell_number(value, cells)

    def validate(self, value: object, spec: FieldSpec) -> object:
        number = parse_number(value)
        check_number_range(number, spec)
        return number

    def unique_key(self, value: object) -> str:
        return number_key(value)


@register
class BooleanField(FieldStrategy):
    """Strictly true/false: accepting "yes" or 1 would make the stored meaning guesswork."""

    name = "boolean"
    rule_type = "boolean"
    can_be_unique = False

    def from_cell(self, value: object, cells: CellContext) -> object:
        return cell_boolean(value)  # a workbook's TRUE, or the locale's words for yes and no

    def validate(self, value: object, spec: FieldSpec) -> object:
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value


def parse_date(raw: object) -> date:
    # date.fromisoformat also takes "20240131" and week dates; we store one spelling only.
    if not isinstance(raw, str) or not _DATE_SHAPE.fullmatch(raw):
        raise ValueError("must be a date like 2024-01-31")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError("is not a real calendar date") from None


def parse_datetime(raw: object) -> datetime:
    """Naive times are refused: guessing their zone silently shifts them by hours."""
    message = "must be an ISO 8601 date-time with a timezone offset, like 2024-01-31T09:30:00Z"
    if not isinstance(raw, str) or len(raw) > _MAX_DATETIME_LENGTH:
        raise ValueError(message)
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(message) from None
    if parsed.utcoffset() is None:
        raise ValueError("must include a timezone offset, like +02:00 or Z")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None


@register
class DateField(FieldStrategy):
    name = "date"
    rule_type = "date"
    allowed_constraints = frozenset({"min", "max"})

    def constraint_problems(self, spec: FieldSpec) -> list[Problem]:
        return range_problems(spec, "min", "max", parse_date)

    def from_cell(self, value: object, cells: CellContext) -> object:
        return cell_date(value, cells)

    def validate(self, value: object, spec: FieldSpec) -> object:
        day = parse_date(value)
        low = bound(spec, "min", parse_date)
        high = bound(spec, "max", parse_date)
        if low is not None and day < low:
            raise ValueError(f"must be on or after {low.isoformat()}")
        if high is not None and day > high:
            raise ValueError(f"must be on or before {high.isoformat()}")
        return day.isoformat()


@register
class DateTimeField(FieldStrategy):
    """Stored in UTC so the same instant written in two zones is stored (and claimed) once."""

    name = "datetime"
    rule_type = "datetime"
    allowed_constraints = frozenset({"min", "max"})

    def constraint_problems(self, spec: FieldSpec) -> list[Problem]:
        return range_problems(spec, "min", "max", parse_datetime)

    def from_cell(self, value: object, cells: CellContext) -> object:
        return cell_datetime(value, cells)

    def validate(self, value: object, spec: FieldSpec) -> object:
        moment = parse_datetime(value)
        low = bound(spec, "min", parse_datetime)
        high = bound(spec, "max", parse_datetime)
        if low is not None and moment < low:
            raise ValueError(f"must be at or after {low.isoformat()}")
        if high is not None and moment > high:
            raise ValueError(f"must be at or before {high.isoformat()}")
        return moment.isoformat()

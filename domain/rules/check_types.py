"""Which operand types fit together, for check_rule.

Types come in families: numbers, dates (date and datetime) and text order among themselves;
a literal text counts in the number family when it is a number ("3") and in the date family
when it is an ISO date, because JsonLogic compares it that way at run time. Booleans, lists
and points have no order. Equality also accepts two values of the same kind (two lists, two
points), and null or "any" on either side.
"""

from __future__ import annotations

from domain.errors import InvalidInput
from domain.rules.check_base import Typed
from domain.rules.dates import MAX_DAYS, is_moment_text
from domain.rules.shape import Call
from domain.rules.values import to_number

_UNORDERED = ("boolean", "list", "geo", "null")
_MOMENT_HELP = (
    'a date or datetime field, ISO text like "2026-03-01" or "2026-03-01T09:00:00+01:00", '
    'or {"today": 0}'
)


def _families(t: Typed) -> set[str] | None:
    """None for "any" (fits every family)."""
    if t.kind == "any":
        return None
    if t.kind == "number":
        return {"number"}
    if t.kind in ("date", "datetime"):
        return {"date"}
    if t.kind == "text":
        families = {"text"}
        if t.is_literal and to_number(t.literal) is not None:
            families.add("number")
        if t.is_literal and is_moment_text(t.literal):
            families.add("date")
        return families
    return set()


def order_fits(a: Typed, b: Typed) -> bool:
    fa, fb = _families(a), _families(b)
    return fa is None or fb is None or bool(fa & fb)


def equality_fits(a: Typed, b: Typed) -> bool:
    if {a.kind, b.kind} & {"any", "null"} or a.kind == b.kind:
        return True
    return order_fits(a, b)


def orderable(call: Call, index: int, t: Typed) -> None:
    if t.kind in _UNORDERED:
        raise InvalidInput(
            f"{call.op!r} cannot order {t.label}; only numbers, dates and text have an order",
            call.arg_path(index),
        )


def expect_kind(call: Call, index: int, t: Typed, kinds: tuple[str, ...], what: str) -> None:
    if t.kind == "any" or t.kind in kinds:
        return
    if "number" in kinds and t.kind == "text" and t.is_literal and to_number(t.literal) is not None:
        return
    raise InvalidInput(f"{call.op!r} needs {what} here, not {t.label}", call.arg_path(index))


def expect_moment(call: Call, index: int, t: Typed) -> None:
    if t.kind in ("date", "datetime", "any"):
        return
    if t.kind == "text" and t.is_literal:
        if is_moment_text(t.literal):
            return
        raise InvalidInput(
            f"{t.literal!r} is not an ISO date like 2026-03-01 or 2026-03-01T09:00:00+01:00",
            call.arg_path(index),
        )
    raise InvalidInput(
        f"{call.op!r} needs a date here ({_MOMENT_HELP}), not {t.label}", call.arg_path(index)
    )


def expect_days(call: Call, index: int, t: Typed, *, signed: bool = False) -> None:
    expect_kind(call, index, t, ("number",), "a number of days")
    if not t.is_literal:
        return
    days = to_number(t.literal)
    low = -MAX_DAYS if signed else 0
    if days is None or days != int(days) or not low <= days <= MAX_DAYS:
        raise InvalidInput(
            f"must be a whole number of days between {low:,} and {MAX_DAYS:,}",
            call.arg_path(index),
        )


def expect_number_in(call: Call, index: int, t: Typed, low: float, high: float, what: str) -> None:
    expect_kind(call, index, t, ("number",), f"a number ({what})")
    if t.is_literal:
        value = to_number(t.literal)
        if value is None or not low <= value <= high:
            raise InvalidInput(
                f"the {what} must be between {low:g} and {high:g}", call.arg_path(index)
            )

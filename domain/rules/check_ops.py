"""What each operator accepts and gives, for check_rule (compatibility rules in check_types)."""

from __future__ import annotations

from domain.errors import InvalidInput
from domain.fields import safe_compile
from domain.rules.check_base import Checker, Scope, Signature, Typed, result
from domain.rules.check_types import (
    equality_fits,
    expect_days,
    expect_kind,
    expect_moment,
    expect_number_in,
    order_fits,
    orderable,
)
from domain.rules.nodes import split_path
from domain.rules.shape import Call


def check_var(ck: Checker, call: Call, scope: Scope) -> Typed:
    raw = call.args[0] if call.args else None
    if split_path(raw) is None:
        raise InvalidInput(
            'the path of "var" must be literal text like "data.severity"', call.arg_path(0)
        )
    name = "" if raw is None else str(raw)
    typed = ck.variable(name, scope, call.arg_path(0))
    if len(call.args) > 1:
        default = ck.arg(call, 1, scope)
        if not equality_fits(typed, default):
            raise InvalidInput(
                f"the default {default.label} does not fit {typed.label}", call.arg_path(1)
            )
    return typed


def check_logic(ck: Checker, call: Call, scope: Scope) -> Typed:
    """and, or, if: JsonLogic returns one of the arguments, so their common type if any."""
    typed = ck.args(call, scope)
    branches = typed if call.op != "if" else _if_branches(typed)
    kinds = {t.kind for t in branches}
    return result(call.op, kinds.pop() if len(kinds) == 1 else "any")


def _if_branches(typed: list[Typed]) -> list[Typed]:
    values = [typed[i] for i in range(1, len(typed), 2)]
    return [*values, typed[-1]] if len(typed) % 2 else [*values, Typed("null", "null", None)]


def check_not(ck: Checker, call: Call, scope: Scope) -> Typed:
    ck.arg(call, 0, scope)
    return result(call.op, "boolean")


def check_equality(ck: Checker, call: Call, scope: Scope) -> Typed:
    a, b = ck.args(call, scope)
    if not equality_fits(a, b):
        raise InvalidInput(
            f"{call.op!r} compares {a.label} with {b.label}, which can never be equal",
            call.arg_path(1),
        )
    return result(call.op, "boolean")


def check_order(ck: Checker, call: Call, scope: Scope) -> Typed:
    typed = ck.args(call, scope)
    for index, t in enumerate(typed):
        orderable(call, index, t)
    if call.op == "between":  # [value, low, high]: both bounds against the value
        pairs = [(0, 1), (0, 2)]
    else:  # [a, b] or JsonLogic's [low, x, high]: neighbours
        pairs = [(i, i + 1) for i in range(len(typed) - 1)]
    for first, second in pairs:
        if not order_fits(typed[first], typed[second]):
            raise InvalidInput(
                f"{call.op!r} cannot order {typed[first].label} against "
                f"{typed[second].label}; compare numbers with numbers, dates with dates "
                "and text with text",
                call.arg_path(second),
            )
    return result(call.op, "boolean")


def check_in(ck: Checker, call: Call, scope: Scope) -> Typed:
    item, where = ck.args(call, scope)
    if call.op == "contains":
        item, where = where, item
        item_index, where_index = 1, 0
    else:
        item_index, where_index = 0, 1
    if where.kind == "text":
        expect_kind(call, item_index, item, ("text", "number"), "text to look for")
    elif where.kind == "list":
        element = Typed(where.item, f"the items of {where.label}")
        if not equality_fits(element, item):
            raise InvalidInput(
                f"{call.op!r} looks for {item.label} among {element.label} ({where.item}), "
                "which can never match",
                call.arg_path(item_index),
            )
    elif where.kind != "any":
        raise InvalidInput(
            f"{call.op!r} looks in a list or a text; {where.label} is neither",
            call.arg_path(where_index),
        )
    return result(call.op, "boolean")


def check_affix(ck: Checker, call: Call, scope: Scope) -> Typed:
    text, affix = ck.args(call, scope)
    expect_kind(call, 0, text, ("text",), "text")
    expect_kind(call, 1, affix, ("text",), "text")
    return result(call.op, "boolean")


def check_matches(ck: Checker, call: Call, scope: Scope) -> Typed:
    text = ck.arg(call, 0, scope)
    expect_kind(call, 0, text, ("text",), "text")
    pattern = call.args[1]
    if type(pattern) is not str:
        raise InvalidInput(
            "the pattern must be literal text (a regular expression), not an expression",
            call.arg_path(1),
        )
    try:
        safe_compile(pattern)
    except ValueError as exc:
        raise InvalidInput(f"the pattern {exc}", call.arg_path(1)) from None
    return result(call.op, "boolean")


def check_dates(ck: Checker, call: Call, scope: Scope) -> Typed:
    for index, typed in enumerate(ck.args(call, scope)):
        expect_moment(call, index, typed)
    return result(call.op, "boolean")


def check_within_days(ck: Checker, call: Call, scope: Scope) -> Typed:
    moment, days = ck.args(call, scope)
    expect_moment(call, 0, moment)
    expect_days(call, 1, days)
    return result(call.op, "boolean")


def check_today(ck: Checker, call: Call, scope: Scope) -> Typed:
    days = ck.arg(call, 0, scope)
    if not (days.is_literal and type(days.literal) is int):
        raise InvalidInput(
            '"today" takes a whole number of days from today, like 0, 1 or -7', call.arg_path(0)
        )
    expect_days(call, 0, days, signed=True)
    return Typed("datetime", f"today{days.literal:+d} (datetime)")


def check_changed(ck: Checker, call: Call, scope: Scope) -> Typed:
    ck.require_changes(call)
    name = call.args[0]
    if type(name) is not str:
        raise InvalidInput(
            f'the field of {call.op!r} must be literal text like "data.status", not an expression',
            call.arg_path(0),
        )
    typed = ck.variable(name, Scope(), call.arg_path(0))
    if len(call.args) > 1:
        value = ck.arg(call, 1, scope)
        if not equality_fits(typed, value):
            raise InvalidInput(
                f"{call.op!r} compares {typed.label} with {value.label}, which can never be equal",
                call.arg_path(1),
            )
    return result(call.op, "boolean")


def check_within_km(ck: Checker, call: Call, scope: Scope) -> Typed:
    point, lat, lon, km = ck.args(call, scope)
    expect_kind(call, 0, point, ("geo",), 'a point like {"lat": 48.85, "lon": 2.35}')
    expect_number_in(call, 1, lat, -90.0, 90.0, "latitude")
    expect_number_in(call, 2, lon, -180.0, 180.0, "longitude")
    expect_number_in(call, 3, km, 0.0, 40_100.0, "distance in km")
    return result(call.op, "boolean")


def check_arithmetic(ck: Checker, call: Call, scope: Scope) -> Typed:
    for index, typed in enumerate(ck.args(call, scope)):
        expect_kind(call, index, typed, ("number",), "numbers")
    return result(call.op, "number")


def check_cat(ck: Checker, call: Call, scope: Scope) -> Typed:
    ck.args(call, scope)
    return result(call.op, "text")


def check_scoped(ck: Checker, call: Call, scope: Scope) -> Typed:
    items = ck.arg(call, 0, scope)
    if items.kind not in ("list", "any"):
        raise InvalidInput(
            f"{call.op!r} goes through a list; {items.label} is not one", call.arg_path(0)
        )
    ck.arg(call, 1, Scope(item=items.item))
    return result(call.op, "boolean")


def check_missing(ck: Checker, call: Call, scope: Scope) -> Typed:
    if call.op == "missing_some":
        need = ck.arg(call, 0, scope)
        if not (need.is_literal and type(need.literal) is int and need.literal >= 0):
            raise InvalidInput("must be a whole number of fields, like 1", call.arg_path(0))
        names, base = call.args[1], call.arg_path(1)
        if type(names) is not list:
            raise InvalidInput('must be a list of paths like ["data.a", "data.b"]', base)
        paths = [(name, (*base, i)) for i, name in enumerate(names)]
    elif len(call.args) == 1 and type(call.args[0]) is list:
        paths = [(name, (*call.arg_path(0), i)) for i, name in enumerate(call.args[0])]
    else:
        paths = [(name, call.arg_path(i)) for i, name in enumerate(call.args)]
    for name, path in paths:
        if type(name) is not str:
            raise InvalidInput('must be a literal path like "data.owner"', path)
        ck.variable(name, scope, path)
    return result(call.op, "list")


SIGNATURES: dict[str, Signature] = {
    "var": check_var,
    "==": check_equality,
    "!=": check_equality,
    "===": check_equality,
    "!==": check_equality,
    "<": check_order,
    "<=": check_order,
    ">": check_order,
    ">=": check_order,
    "between": check_order,
    "and": check_logic,
    "or": check_logic,
    "if": check_logic,
    "!": check_not,
    "!!": check_not,
    "in": check_in,
    "contains": check_in,
    "missing": check_missing,
    "missing_some": check_missing,
    "some": check_scoped,
    "all": check_scoped,
    "none": check_scoped,
    "+": check_arithmetic,
    "-": check_arithmetic,
    "*": check_arithmetic,
    "/": check_arithmetic,
    "%": check_arithmetic,
    "min": check_arithmetic,
    "max": check_arithmetic,
    "cat": check_cat,
    "starts_with": check_affix,
    "ends_with": check_affix,
    "matches": check_matches,
    "before": check_dates,
    "after": check_dates,
    "on_or_before": check_dates,
    "on_or_after": check_dates,
    "within_last_days": check_within_days,
    "within_next_days": check_within_days,
    "today": check_today,
    "changed": check_changed,
    "changed_from": check_changed,
    "changed_to": check_changed,
    "within_km": check_within_km,
}

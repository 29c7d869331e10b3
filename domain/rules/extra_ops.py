"""Workflow operators beyond JsonLogic: text, ranges, regex, dates, changes and distance.

All of them answer true or false and never raise on odd data: a value of the wrong kind (a
number where a date is expected, a text too long for a pattern) just makes them false.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from domain.errors import InvalidInput
from domain.fields import MAX_MATCH_INPUT, safe_compile
from domain.rules.compare import between
from domain.rules.dates import (
    MAX_DAYS,
    parse_moment,
    start_of_local_day,
    to_instant,
    within_last_days,
    within_next_days,
)
from domain.rules.geo import distance_km, point_of
from domain.rules.nodes import Builder, Compiler, Node, walk
from domain.rules.shape import Call
from domain.rules.types import RuleInput
from domain.rules.values import contains, loose_eq, same_value, to_number

Moment = Callable[[Any, RuleInput], datetime | None]


def build_contains(c: Compiler, call: Call) -> Node:
    hay, needle = c.args(call)
    fh, fn = hay.fn, needle.fn
    return c.pure(lambda data, inp: contains(fh(data, inp), fn(data, inp)), [hay, needle])


def _affix(c: Compiler, call: Call, *, start: bool) -> Node:
    text, affix = c.args(call)
    ft, fa = text.fn, affix.fn

    def test(data: Any, inp: RuleInput) -> bool:
        value, part = ft(data, inp), fa(data, inp)
        if type(value) is not str or type(part) is not str:
            return False
        folded, wanted = value.casefold(), part.casefold()
        return folded.startswith(wanted) if start else folded.endswith(wanted)

    return c.pure(test, [text, affix])


def build_starts_with(c: Compiler, call: Call) -> Node:
    return _affix(c, call, start=True)


def build_ends_with(c: Compiler, call: Call) -> Node:
    return _affix(c, call, start=False)


def build_between(c: Compiler, call: Call) -> Node:
    value, low, high = c.args(call)
    return between(c, value, low, high, strict=False)


def build_matches(c: Compiler, call: Call) -> Node:
    text = c.arg(call, 0)
    pattern = c.literal_text(call, 1, "the pattern")
    try:
        search = safe_compile(pattern).search
    except ValueError as exc:
        raise InvalidInput(f"the pattern {exc}", call.arg_path(1)) from None
    ft = text.fn

    def matches(data: Any, inp: RuleInput) -> bool:
        value = ft(data, inp)
        # Past MAX_MATCH_INPUT a backtracking pattern could stall the worker: refuse, i.e. false.
        return type(value) is str and len(value) <= MAX_MATCH_INPUT and search(value) is not None

    return c.pure(matches, [text])


def _moment(node: Node) -> Moment:
    """Literal dates are parsed once; only a naive one still needs the tenant's timezone."""
    if node.is_const and type(node.const) is str:
        parsed = parse_moment(node.const)
        if parsed is None:
            return lambda data, inp: None
        if parsed.tzinfo is UTC:
            return lambda data, inp: parsed
        return lambda data, inp: to_instant(parsed, inp.zone)
    fn = node.fn
    return lambda data, inp: to_instant(fn(data, inp), inp.zone)


def _dated(c: Compiler, call: Call) -> tuple[Moment, Moment]:
    a, b = c.args(call)
    return _moment(a), _moment(b)


def build_before(c: Compiler, call: Call) -> Node:
    fa, fb = _dated(c, call)

    def before(data: Any, inp: RuleInput) -> bool:
        a, b = fa(data, inp), fb(data, inp)
        return a is not None and b is not None and a < b

    return Node(before)


def build_after(c: Compiler, call: Call) -> Node:
    fa, fb = _dated(c, call)

    def after(data: Any, inp: RuleInput) -> bool:
        a, b = fa(data, inp), fb(data, inp)
        return a is not None and b is not None and a > b

    return Node(after)


def build_on_or_before(c: Compiler, call: Call) -> Node:
    fa, fb = _dated(c, call)

    def on_or_before(data: Any, inp: RuleInput) -> bool:
        a, b = fa(data, inp), fb(data, inp)
        return a is not None and b is not None and a <= b

    return Node(on_or_before)


def build_on_or_after(c: Compiler, call: Call) -> Node:
    fa, fb = _dated(c, call)

    def on_or_after(data: Any, inp: RuleInput) -> bool:
        a, b = fa(data, inp), fb(data, inp)
        return a is not None and b is not None and a >= b

    return Node(on_or_after)


def build_within_last_days(c: Compiler, call: Call) -> Node:
    value, days = c.args(call)
    fv, fd = value.fn, days.fn
    return Node(
        lambda data, inp: within_last_days(fv(data, inp), fd(data, inp), inp.now_utc, inp.zone)
    )


def build_within_next_days(c: Compiler, call: Call) -> Node:
    value, days = c.args(call)
    fv, fd = value.fn, days.fn
    return Node(
        lambda data, inp: within_next_days(fv(data, inp), fd(data, inp), inp.now_utc, inp.zone)
    )


def build_today(c: Compiler, call: Call) -> Node:
    days = call.args[0]
    if type(days) is not int or abs(days) > MAX_DAYS:
        raise InvalidInput(
            f"must be a whole number of days from today, like 0, 1 or -7 (at most {MAX_DAYS:,})",
            call.arg_path(0),
        )
    return Node(lambda data, inp: start_of_local_day(inp.now_utc, inp.zone, days))


def _change_path(c: Compiler, call: Call) -> tuple[str, ...]:
    return tuple(c.literal_text(call, 0, "the field path").split("."))


def _values_around_change(parts: tuple[str, ...], inp: RuleInput) -> tuple[Any, Any] | None:
    """(before, after) when the value at `parts` changed; None when it did not (or is unknown).

    Paths read the record (`inp.data`), even inside some/all/none; a rule evaluated without a
    previous state has no changes.
    """
    if inp.previous is None:
        return None
    old, new = walk(inp.previous, parts, None), walk(inp.data, parts, None)
    return None if same_value(old, new) else (old, new)


def build_changed(c: Compiler, call: Call) -> Node:
    parts = _change_path(c, call)
    return Node(lambda data, inp: _values_around_change(parts, inp) is not None)


def build_changed_from(c: Compiler, call: Call) -> Node:
    parts, wanted = _change_path(c, call), c.arg(call, 1).fn

    def changed_from(data: Any, inp: RuleInput) -> bool:
        change = _values_around_change(parts, inp)
        return change is not None and loose_eq(change[0], wanted(data, inp))

    return Node(changed_from)


def build_changed_to(c: Compiler, call: Call) -> Node:
    parts, wanted = _change_path(c, call), c.arg(call, 1).fn

    def changed_to(data: Any, inp: RuleInput) -> bool:
        change = _values_around_change(parts, inp)
        return change is not None and loose_eq(change[1], wanted(data, inp))

    return Node(changed_to)


def build_within_km(c: Compiler, call: Call) -> Node:
    point, lat, lon, km = c.args(call)
    fp, flat, flon, fkm = point.fn, lat.fn, lon.fn, km.fn

    def within(data: Any, inp: RuleInput) -> bool:
        here = point_of(fp(data, inp))
        if here is None:
            return False
        there = point_of({"lat": to_number(flat(data, inp)), "lon": to_number(flon(data, inp))})
        radius = to_number(fkm(data, inp))
        if there is None or radius is None or not math.isfinite(radius):
            return False
        return distance_km(*here, *there) <= radius

    return c.pure(within, [point, lat, lon, km])


EXTRAS: dict[str, Builder] = {
    "contains": build_contains,
    "starts_with": build_starts_with,
    "ends_with": build_ends_with,
    "between": build_between,
    "matches": build_matches,
    "before": build_before,
    "after": build_after,
    "on_or_before": build_on_or_before,
    "on_or_after": build_on_or_after,
    "within_last_days": build_within_last_days,
    "within_next_days": build_within_next_days,
    "today": build_today,
    "changed": build_changed,
    "changed_from": build_changed_from,
    "changed_to": build_changed_to,
    "within_km": build_within_km,
}

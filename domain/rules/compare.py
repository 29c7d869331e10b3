"""Comparison builders: ==, !=, ===, !==, <, <=, >, >= and `between`.

Most conditions compare a field with a literal (`severity >= 3`, `kind == "incident"`), so
those get closures that test the usual type inline and fall back to the general semantics
(values.py) only for the unusual one; the result is the same either way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from domain.rules.nodes import Builder, Compiler, Fn, Node
from domain.rules.shape import Call
from domain.rules.types import RuleInput
from domain.rules.values import (
    greater,
    greater_or_equal,
    less,
    less_or_equal,
    loose_eq,
    strict_eq,
)

Compare = Callable[[object, object], bool]
ORDER: dict[str, Compare] = {
    "<": less,
    "<=": less_or_equal,
    ">": greater,
    ">=": greater_or_equal,
}
_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _plain_number(value: object) -> bool:
    return (type(value) is int or type(value) is float) and not math.isnan(value)


def build_order(c: Compiler, call: Call) -> Node:
    parts = c.args(call)
    if len(parts) == 3:  # JsonLogic's between form: [low, x, high]
        return between(c, parts[1], parts[0], parts[2], strict=call.op == "<")
    a, b = parts
    if c.fast and not (a.is_const and b.is_const):
        if _plain_number(b.const):
            return Node(_against_number(call.op, a.fn, b.const))
        if _plain_number(a.const):
            return Node(_against_number(_FLIPPED[call.op], b.fn, a.const))
    slow, fa, fb = ORDER[call.op], a.fn, b.fn
    return c.pure(lambda data, inp: slow(fa(data, inp), fb(data, inp)), parts)


def _against_number(op: str, fa: Fn, limit: float) -> Fn:
    slow = ORDER[op]
    if op == ">=":

        def at_least(data: Any, inp: RuleInput) -> bool:
            v = fa(data, inp)
            if type(v) is int or type(v) is float:
                return v >= limit
            return slow(v, limit)

        return at_least
    if op == ">":

        def above(data: Any, inp: RuleInput) -> bool:
            v = fa(data, inp)
            if type(v) is int or type(v) is float:
                return v > limit
            return slow(v, limit)

        return above
    if op == "<=":

        def at_most(data: Any, inp: RuleInput) -> bool:
            v = fa(data, inp)
            if type(v) is int or type(v) is float:
                return v <= limit
            return slow(v, limit)

        return at_most

    def below(data: Any, inp: RuleInput) -> bool:
        v = fa(data, inp)
        if type(v) is int or type(v) is float:
            return v < limit
        return slow(v, limit)

    return below


def between(c: Compiler, value: Node, low: Node, high: Node, *, strict: bool) -> Node:
    fv = value.fn
    if c.fast and _plain_number(low.const) and _plain_number(high.const):
        lo: float = low.const
        hi: float = high.const
        slow = less if strict else less_or_equal
        if strict:

            def inside_open(data: Any, inp: RuleInput) -> bool:
                v = fv(data, inp)
                if type(v) is int or type(v) is float:
                    return lo < v < hi
                return slow(lo, v) and slow(v, hi)

            return Node(inside_open)

        def inside(data: Any, inp: RuleInput) -> bool:
            v = fv(data, inp)
            if type(v) is int or type(v) is float:
                return lo <= v <= hi
            return slow(lo, v) and slow(v, hi)

        return Node(inside)
    first, last = low.fn, high.fn
    slow = less if strict else less_or_equal

    def general(data: Any, inp: RuleInput) -> bool:
        v = fv(data, inp)
        return slow(first(data, inp), v) and slow(v, last(data, inp))

    return c.pure(general, [value, low, high])


def build_equality(c: Compiler, call: Call) -> Node:
    a, b = c.args(call)
    strict = call.op in ("===", "!==")
    negate = call.op in ("!=", "!==")
    if c.fast and a.is_const != b.is_const:
        if a.is_const:  # both equalities are symmetric
            a, b = b, a
        return Node(_against_literal(a.fn, b.const, strict=strict, negate=negate))
    same = strict_eq if strict else loose_eq
    fa, fb = a.fn, b.fn
    if negate:
        return c.pure(lambda data, inp: not same(fa(data, inp), fb(data, inp)), [a, b])
    return c.pure(lambda data, inp: same(fa(data, inp), fb(data, inp)), [a, b])


def _against_literal(fa: Fn, literal: Any, *, strict: bool, negate: bool) -> Fn:
    if literal is None:  # null equals only null, loosely or strictly
        if negate:
            return lambda data, inp: fa(data, inp) is not None
        return lambda data, inp: fa(data, inp) is None
    if type(literal) is str:
        return _text_literal(fa, literal, strict=strict, negate=negate)
    if _plain_number(literal):
        return _number_literal(fa, literal, strict=strict, negate=negate)
    same = strict_eq if strict else loose_eq
    if negate:
        return lambda data, inp: not same(fa(data, inp), literal)
    return lambda data, inp: same(fa(data, inp), literal)


def _text_literal(fa: Fn, literal: str, *, strict: bool, negate: bool) -> Fn:
    slow = strict_eq if strict else loose_eq

    if negate:

        def differs(data: Any, inp: RuleInput) -> bool:
            v = fa(data, inp)
            if type(v) is str:
                return v != literal
            return not slow(v, literal)

        return differs

    def equals(data: Any, inp: RuleInput) -> bool:
        v = fa(data, inp)
        if type(v) is str:
            return v == literal
        return slow(v, literal)

    return equals


def _number_literal(fa: Fn, literal: float, *, strict: bool, negate: bool) -> Fn:
    slow = strict_eq if strict else loose_eq

    if negate:

        def differs(data: Any, inp: RuleInput) -> bool:
            v = fa(data, inp)
            if type(v) is int or type(v) is float:
                return v != literal
            return not slow(v, literal)

        return differs

    def equals(data: Any, inp: RuleInput) -> bool:
        v = fa(data, inp)
        if type(v) is int or type(v) is float:
            return v == literal
        return slow(v, literal)

    return equals


COMPARISONS: dict[str, Builder] = {
    "<": build_order,
    "<=": build_order,
    ">": build_order,
    ">=": build_order,
    "==": build_equality,
    "!=": build_equality,
    "===": build_equality,
    "!==": build_equality,
}

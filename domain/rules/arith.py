"""Arithmetic and text building: +, -, *, /, %, min, max, cat.

Operands are converted as JavaScript's Number() would; anything that is not a number (a
missing field, "abc", a division by zero) makes the result null instead of raising, so the
comparison around it is simply false. Whole results are ints, as JSON would show them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from domain.rules.nodes import Builder, Compiler, Node
from domain.rules.shape import Call
from domain.rules.types import RuleInput
from domain.rules.values import Number, js_text, normal_number, to_number

Combine = Callable[[Number, Number], Number | None]
_INT_LIMIT = 2**63


def _finish(result: Number | None) -> Number | None:
    """Results are JSON numbers: huge ints turn into floats (and then null past a float's range)."""
    if type(result) is int:
        if -_INT_LIMIT < result < _INT_LIMIT:
            return result
        try:
            result = float(result)
        except OverflowError:
            return None
    return None if result is None else normal_number(result)


def _numbers(values: list[Any]) -> list[Number] | None:
    numbers = []
    for value in values:
        number = to_number(value)
        if number is None:
            return None
        numbers.append(number)
    return numbers


def _divide(a: Number, b: Number) -> Number | None:
    return None if b == 0 else a / b


def _remainder(a: Number, b: Number) -> Number | None:
    """JavaScript's %: the sign follows the dividend (-7 % 3 is -1, not Python's 2)."""
    if b == 0:
        return None
    if type(a) is int and type(b) is int:
        rest = abs(a) % abs(b)
        return -rest if a < 0 else rest
    return math.fmod(a, b)


_BINARY: dict[str, Combine] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": _divide,
    "%": _remainder,
}


def _operands(x: Any, y: Any) -> tuple[Number, Number] | None:
    a, b = to_number(x), to_number(y)
    return None if a is None or b is None else (a, b)


def _binary(c: Compiler, call: Call) -> Node:
    a, b = c.args(call)
    combine, fa, fb = _BINARY[call.op], a.fn, b.fn
    if call.op == "*":  # inline for two numbers, the case nearly every evaluation takes

        def times(data: Any, inp: RuleInput) -> Number | None:
            x, y = fa(data, inp), fb(data, inp)
            if (type(x) is int or type(x) is float) and (type(y) is int or type(y) is float):
                result = x * y
            else:
                pair = _operands(x, y)
                if pair is None:
                    return None
                result = pair[0] * pair[1]
            if type(result) is int:
                if -_INT_LIMIT < result < _INT_LIMIT:
                    return result
            elif isinstance(result, float) and result - result == 0 and not result.is_integer():
                return result
            return _finish(result)

        return c.pure(times, [a, b])

    def apply(data: Any, inp: RuleInput) -> Number | None:
        x, y = fa(data, inp), fb(data, inp)
        if (type(x) is int or type(x) is float) and (type(y) is int or type(y) is float):
            result = combine(x, y)
        else:
            pair = _operands(x, y)
            if pair is None:
                return None
            result = combine(*pair)
        if type(result) is int and -_INT_LIMIT < result < _INT_LIMIT:
            return result
        return _finish(result)

    return c.pure(apply, [a, b])


def _folding(c: Compiler, call: Call, fold: Callable[[list[Number]], Number | None]) -> Node:
    parts = c.args(call)
    fns = tuple(p.fn for p in parts)

    def apply(data: Any, inp: RuleInput) -> Number | None:
        numbers = _numbers([f(data, inp) for f in fns])
        if numbers is None:
            return None
        return _finish(fold(numbers))

    return c.pure(apply, parts)


def build_add(c: Compiler, call: Call) -> Node:
    return _binary(c, call) if len(call.args) == 2 else _folding(c, call, sum)


def build_multiply(c: Compiler, call: Call) -> Node:
    return _binary(c, call) if len(call.args) == 2 else _folding(c, call, math.prod)


def build_subtract(c: Compiler, call: Call) -> Node:
    if len(call.args) == 2:
        return _binary(c, call)
    return _folding(c, call, lambda numbers: -numbers[0])


def build_min(c: Compiler, call: Call) -> Node:
    return _folding(c, call, min)


def build_max(c: Compiler, call: Call) -> Node:
    return _folding(c, call, max)


def build_cat(c: Compiler, call: Call) -> Node:
    parts = c.args(call)
    fns = tuple(p.fn for p in parts)
    return c.pure(lambda data, inp: "".join([js_text(f(data, inp)) for f in fns]), parts)


ARITHMETIC: dict[str, Builder] = {
    "+": build_add,
    "-": build_subtract,
    "*": build_multiply,
    "/": _binary,
    "%": _binary,
    "min": build_min,
    "max": build_max,
    "cat": build_cat,
}

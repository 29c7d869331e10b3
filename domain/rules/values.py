"""How rule values compare and convert: JsonLogic (JavaScript) semantics, made total.

Truthiness is Python's, which is JsonLogic's for JSON values (an empty list is false; unlike
JavaScript an empty object is false too, as in json-logic-qubit). Where json-logic-qubit and
json-logic-js disagree we follow json-logic-js, the reference:

- `==` is JavaScript's loose equality without its surprises: null equals only null (qubit says
  `null == false`), a boolean compares as 0/1, text compares with a number when it *is* a
  number ("" is not 0);
- ordering (<, <=, >, >=) of null, of non-numeric text against a number, of lists, objects and
  mixed dates is false instead of an exception;
- arithmetic on something that is not a number gives null (JavaScript's NaN), never an
  exception, so a missing field makes a comparison false instead of failing the evaluation.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from functools import lru_cache
from typing import Any

Number = int | float

_NUMERIC_TEXT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


@lru_cache(maxsize=1024)
def _number_in(text: str) -> Number | None:
    stripped = text.strip()
    # A regex first: int() would also take "1_000" and non-ASCII digits, JavaScript does not.
    if len(stripped) > 100 or not _NUMERIC_TEXT.fullmatch(stripped):
        return None
    if stripped.lstrip("+-").isdigit():
        return int(stripped)
    value = float(stripped)
    return value if math.isfinite(value) else None


def to_number(value: Any) -> Number | None:
    """JavaScript's Number(), except that what would be NaN (or "") is None."""
    kind = type(value)
    if kind is int or kind is float:
        number: Number = value
        return number
    if kind is bool:
        return int(value)
    if kind is str:
        return _number_in(value)
    return None


def normal_number(value: Number) -> Number | None:
    """Whole floats become ints (4 / 2 is 2, as JSON shows it); inf and nan become None."""
    if type(value) is float:
        if not math.isfinite(value):
            return None
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
    return value


def loose_eq(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    ta, tb = type(a), type(b)
    if ta is tb:
        same: bool = a == b
        return same
    if ta is bool:
        a, ta = int(a), int
    if tb is bool:
        b, tb = int(b), int
    a_num = ta is int or ta is float
    b_num = tb is int or tb is float
    if a_num and b_num:
        return bool(a == b)
    if a_num and tb is str:
        return _number_in(b) == a  # type: ignore[no-any-return]
    if b_num and ta is str:
        return _number_in(a) == b  # type: ignore[no-any-return]
    return False


def strict_eq(a: Any, b: Any) -> bool:
    """`===`: same JSON type and equal; 1 and 1.0 are the same number."""
    ta, tb = type(a), type(b)
    same: bool = a == b
    if ta is tb:
        return same
    return (ta is int or ta is float) and (tb is int or tb is float) and same


def less(a: Any, b: Any) -> bool:
    ta, tb = type(a), type(b)
    if ((ta is int or ta is float) and (tb is int or tb is float)) or (ta is str and tb is str):
        answer: bool = a < b
        return answer
    x, y = to_number(a), to_number(b)
    if x is None or y is None:
        return _same_kind_order(a, b, strict=True)
    return x < y


def less_or_equal(a: Any, b: Any) -> bool:
    ta, tb = type(a), type(b)
    if ((ta is int or ta is float) and (tb is int or tb is float)) or (ta is str and tb is str):
        answer: bool = a <= b
        return answer
    x, y = to_number(a), to_number(b)
    if x is None or y is None:
        return _same_kind_order(a, b, strict=False)
    return x <= y


def greater(a: Any, b: Any) -> bool:
    return less(b, a)


def greater_or_equal(a: Any, b: Any) -> bool:
    return less_or_equal(b, a)


def _same_kind_order(a: Any, b: Any, *, strict: bool) -> bool:
    """datetime/date values put in the data by Python callers order among themselves."""
    if type(a) is type(b) and isinstance(a, date):
        try:
            answer: bool = a < b if strict else a <= b
        except TypeError:  # naive vs aware datetimes
            return False
        return answer
    return False


def js_text(value: Any) -> str:
    """How `cat` prints a value: JavaScript's String(), with null as "" (Array.join does)."""
    kind = type(value)
    if kind is str:
        text: str = value
        return text
    if value is None:
        return ""
    if kind is bool:
        return "true" if value else "false"
    if kind is float:
        whole = normal_number(value)
        return "NaN" if whole is None else repr(whole)
    if isinstance(value, list | tuple):
        return ",".join(js_text(item) for item in value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def is_list(value: Any) -> bool:
    return type(value) is list or type(value) is tuple


def in_(needle: Any, haystack: Any) -> bool:
    """JsonLogic `in`: substring of a text, or strict membership in a list."""
    if type(haystack) is str:
        if type(needle) is str:
            return needle in haystack
        if type(needle) is int or type(needle) is float:
            return js_text(needle) in haystack
        return False
    if is_list(haystack):
        return any(strict_eq(needle, item) for item in haystack)
    return False


def contains(haystack: Any, needle: Any) -> bool:
    """Workflow `contains`: like `in` reversed, but text matches ignore case."""
    if type(haystack) is str:
        if type(needle) is int or type(needle) is float:
            needle = js_text(needle)
        if type(needle) is not str:
            return False
        return needle.casefold() in haystack.casefold()
    if is_list(haystack):
        if type(needle) is str:
            folded = needle.casefold()
            return any(type(item) is str and item.casefold() == folded for item in haystack)
        return any(strict_eq(needle, item) for item in haystack)
    return False


def same_value(a: Any, b: Any) -> bool:
    """Whether a field kept its value across a change (true stays distinct from 1)."""
    return strict_eq(a, b)

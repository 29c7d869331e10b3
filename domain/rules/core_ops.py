"""JsonLogic's core operators as closure builders (semantics in values.py)."""

from __future__ import annotations

from typing import Any

from domain.errors import InvalidInput
from domain.rules.arith import ARITHMETIC
from domain.rules.compare import COMPARISONS
from domain.rules.nodes import Builder, Compiler, Fn, Node, constant, getter, split_path, walk
from domain.rules.shape import Call
from domain.rules.types import RuleInput
from domain.rules.values import in_, is_list


def build_var(c: Compiler, call: Call) -> Node:
    parts = split_path(call.args[0] if call.args else None)
    if parts is None:
        raise InvalidInput(
            'the path of "var" must be literal text like "data.severity"', call.arg_path(0)
        )
    default = c.arg(call, 1) if len(call.args) > 1 else constant(None)
    if not parts:
        return Node(lambda data, inp: data)
    if default.is_const:
        return Node(getter(parts, default.const), var_parts=parts if c.fast else None)
    missing, fallback = object(), default.fn

    def get_or_compute(data: Any, inp: RuleInput) -> Any:
        value = walk(data, parts, missing)
        return fallback(data, inp) if value is missing else value

    return Node(get_or_compute)


def build_and(c: Compiler, call: Call) -> Node:
    parts = c.args(call)
    fns = tuple(p.fn for p in parts)
    if len(fns) == 1:
        return parts[0]
    if len(fns) == 2:
        f0, f1 = fns
        return c.pure(lambda data, inp: f0(data, inp) and f1(data, inp), parts)
    if len(fns) == 3:
        f0, f1, f2 = fns
        return c.pure(lambda data, inp: f0(data, inp) and f1(data, inp) and f2(data, inp), parts)

    def all_of(data: Any, inp: RuleInput) -> Any:
        value = None
        for fn in fns:
            value = fn(data, inp)
            if not value:
                return value
        return value

    return c.pure(all_of, parts)


def build_or(c: Compiler, call: Call) -> Node:
    parts = c.args(call)
    fns = tuple(p.fn for p in parts)
    if len(fns) == 1:
        return parts[0]
    if len(fns) == 2:
        f0, f1 = fns
        return c.pure(lambda data, inp: f0(data, inp) or f1(data, inp), parts)
    if len(fns) == 3:
        f0, f1, f2 = fns
        return c.pure(lambda data, inp: f0(data, inp) or f1(data, inp) or f2(data, inp), parts)

    def any_of(data: Any, inp: RuleInput) -> Any:
        value = None
        for fn in fns:
            value = fn(data, inp)
            if value:
                return value
        return value

    return c.pure(any_of, parts)


def build_not(c: Compiler, call: Call) -> Node:
    part = c.arg(call, 0)
    fn = part.fn
    return c.pure(lambda data, inp: not fn(data, inp), [part])


def build_truthy(c: Compiler, call: Call) -> Node:
    part = c.arg(call, 0)
    fn = part.fn
    return c.pure(lambda data, inp: bool(fn(data, inp)), [part])


def build_if(c: Compiler, call: Call) -> Node:
    parts = c.args(call)
    if len(parts) == 1:
        return parts[0]
    fallback = parts[-1].fn if len(parts) % 2 else (lambda data, inp: None)
    if len(parts) <= 3:
        test, then = parts[0].fn, parts[1].fn
        return c.pure(
            lambda data, inp: then(data, inp) if test(data, inp) else fallback(data, inp), parts
        )
    pairs = tuple((parts[i].fn, parts[i + 1].fn) for i in range(0, len(parts) - 1, 2))

    def choose(data: Any, inp: RuleInput) -> Any:
        for test, then in pairs:
            if test(data, inp):
                return then(data, inp)
        return fallback(data, inp)

    return c.pure(choose, parts)


def build_in(c: Compiler, call: Call) -> Node:
    needle, haystack = c.args(call)
    fn = needle.fn
    if c.fast and haystack.is_const and is_list(haystack.const) and haystack.const:
        items = haystack.const
        if all(type(item) is str for item in items):
            texts = frozenset(items)

            def in_texts(data: Any, inp: RuleInput) -> bool:
                value = fn(data, inp)
                return type(value) is str and value in texts

            return c.pure(in_texts, [needle, haystack])
    hay = haystack.fn
    return c.pure(lambda data, inp: in_(fn(data, inp), hay(data, inp)), [needle, haystack])


def _names(values: list[Any]) -> list[Any]:
    return values[0] if values and is_list(values[0]) else values


def _is_missing(data: Any, name: Any) -> bool:
    value = _lookup(name)(data, None)  # type: ignore[arg-type]
    return value is None or value == ""


def _two_keys(name: Any) -> tuple[str, str] | None:
    parts = split_path(name)
    if parts and len(parts) <= 2 and all(parts) and not any(p.isdecimal() for p in parts):
        return (parts[0], parts[1] if len(parts) == 2 else "")
    return None


def _lookup(name: Any) -> Fn:
    """How `missing` reads a name: like `var`, and a name that is not a path is never there."""
    parts = split_path(name)
    if parts is None:
        return lambda data, inp: None
    if not parts:
        return lambda data, inp: data
    return getter(parts, None)


def _missing_in_one_object(
    first: str, names: list[Any], keys: list[tuple[str, str]], general: Fn
) -> Fn:
    """Names like "data.owner", "data.due": fetch "data" once, then read its keys."""
    pairs = tuple((name, key[1]) for name, key in zip(names, keys, strict=True))

    def missing_in_object(data: Any, inp: RuleInput) -> list[Any]:
        inner = data.get(first) if type(data) is dict else None
        if type(inner) is not dict:
            return general(data, inp)  # type: ignore[no-any-return]
        absent = []  # a loop, not a comprehension: cheaper on Python 3.11 for a few names
        for name, key in pairs:
            value = inner.get(key)
            if value is None or value == "":
                absent.append(name)
        return absent

    return missing_in_object


def build_missing(c: Compiler, call: Call) -> Node:
    parts = c.args(call)
    if all(p.is_const for p in parts):
        names = _names([p.const for p in parts])
        checks = tuple((n, _lookup(n)) for n in names)

        def missing_fixed(data: Any, inp: RuleInput) -> list[Any]:
            return [n for n, get in checks if (v := get(data, inp)) is None or v == ""]

        keys = [_two_keys(n) for n in names]
        firsts = {k[0] for k in keys if k is not None}
        if names and len(firsts) == 1 and all(k is not None and k[1] for k in keys):
            return Node(_missing_in_one_object(firsts.pop(), names, keys, missing_fixed))  # type: ignore[arg-type]
        return Node(missing_fixed)
    fns = tuple(p.fn for p in parts)

    def missing(data: Any, inp: RuleInput) -> list[Any]:
        return [n for n in _names([f(data, inp) for f in fns]) if _is_missing(data, n)]

    return Node(missing)


def build_missing_some(c: Compiler, call: Call) -> Node:
    need, names = c.args(call)
    need_fn, names_fn = need.fn, names.fn

    def missing_some(data: Any, inp: RuleInput) -> list[Any]:
        wanted = names_fn(data, inp)
        wanted = wanted if is_list(wanted) else [wanted]
        absent = [n for n in wanted if _is_missing(data, n)]
        count = need_fn(data, inp)
        enough = type(count) in (int, float) and len(wanted) - len(absent) >= count
        return [] if enough else absent

    return Node(missing_some)


def _scoped(c: Compiler, call: Call) -> tuple[Fn, Fn]:
    items, rule = c.arg(call, 0), c.arg(call, 1)
    return items.fn, rule.fn


def build_some(c: Compiler, call: Call) -> Node:
    items, test = _scoped(c, call)

    def some(data: Any, inp: RuleInput) -> bool:
        values = items(data, inp)
        if type(values) is not list and type(values) is not tuple:
            return False
        for item in values:  # noqa: SIM110 - a loop is cheaper than any() and a generator
            if test(item, inp):
                return True
        return False

    return Node(some)


def build_all(c: Compiler, call: Call) -> Node:
    items, test = _scoped(c, call)

    def every(data: Any, inp: RuleInput) -> bool:
        values = items(data, inp)
        if (type(values) is not list and type(values) is not tuple) or not values:
            return False  # JsonLogic: "all" of nothing is false
        for item in values:  # noqa: SIM110 - see some()
            if not test(item, inp):
                return False
        return True

    return Node(every)


def build_none(c: Compiler, call: Call) -> Node:
    items, test = _scoped(c, call)

    def none(data: Any, inp: RuleInput) -> bool:
        values = items(data, inp)
        if type(values) is not list and type(values) is not tuple:
            return True
        for item in values:  # noqa: SIM110 - see some()
            if test(item, inp):
                return False
        return True

    return Node(none)


CORE: dict[str, Builder] = {
    "var": build_var,
    "and": build_and,
    "or": build_or,
    "!": build_not,
    "!!": build_truthy,
    "if": build_if,
    "in": build_in,
    "missing": build_missing,
    "missing_some": build_missing_some,
    "some": build_some,
    "all": build_all,
    "none": build_none,
    **COMPARISONS,
    **ARITHMETIC,
}

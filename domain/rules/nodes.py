"""Compiling a rule into closures: the walk, and what each compiled part knows about itself.

Every operation becomes a closure `fn(data, inp)` built once; evaluating a rule is then a few
nested Python calls, with no look-up of operator names. `data` is the scope `var` reads (the
record, or the current item inside some/all/none); `inp` is the whole RuleInput (clock,
timezone, previous state).

Builders specialise common shapes (a comparison with a literal side, a `var` with a fixed path)
and fold operations whose arguments are all literals. A tracing compilation (explain) turns
both off, so that every operation the user wrote shows up in the trace, and wraps each closure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from domain.errors import InvalidInput
from domain.rules.shape import Call, Path, known_call

if TYPE_CHECKING:
    from domain.rules.types import RuleInput

Fn = Callable[[Any, "RuleInput"], Any]


class _NotConstant:
    def __repr__(self) -> str:
        return "NOT_CONSTANT"


NOT_CONSTANT: Any = _NotConstant()
MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class Node:
    fn: Fn
    const: Any = NOT_CONSTANT
    var_parts: tuple[str, ...] | None = None
    """Set on a plain `var` with a fixed path, so callers may inline the look-up."""

    @property
    def is_const(self) -> bool:
        return self.const is not NOT_CONSTANT


def constant(value: Any) -> Node:
    return Node(lambda data, inp: value, value)


class Builder(Protocol):
    def __call__(self, c: Compiler, call: Call) -> Node: ...


class Tracer(Protocol):
    def wrap(self, fn: Fn, op: str, pointer: str) -> Fn: ...


class Compiler:
    def __init__(self, builders: Mapping[str, Builder], tracer: Tracer | None = None) -> None:
        self.builders = builders
        self.tracer = tracer

    @property
    def fast(self) -> bool:
        """Whether builders may specialise and fold (not when every step must be traced)."""
        return self.tracer is None

    def expr(self, node: object, path: Path, pointer: str) -> Node:
        call = known_call(node, path, pointer)
        if call is None:
            if type(node) is list:
                return self._list(node, path, pointer)
            return constant(node)
        built = self.builders[call.op](self, call)
        if self.tracer is not None:
            return Node(self.tracer.wrap(built.fn, call.op, pointer))
        return built

    def arg(self, call: Call, index: int) -> Node:
        return self.expr(call.args[index], call.arg_path(index), call.arg_pointer(index))

    def args(self, call: Call) -> list[Node]:
        return [self.arg(call, i) for i in range(len(call.args))]

    def pure(self, fn: Fn, parts: list[Node]) -> Node:
        """`fn` depends only on its arguments: with all of them literal, compute it now."""
        if self.fast and all(p.is_const for p in parts):
            return constant(fn({}, None))  # type: ignore[arg-type]
        return Node(fn)

    def literal_text(self, call: Call, index: int, what: str) -> str:
        raw = call.args[index]
        if type(raw) is not str:
            raise InvalidInput(
                f"{what} of {call.op!r} must be literal text, not an expression",
                call.arg_path(index),
            )
        return raw

    def _list(self, items: list[Any], path: Path, pointer: str) -> Node:
        parts = [self.expr(item, (*path, i), f"{pointer}/{i}") for i, item in enumerate(items)]
        if all(p.is_const for p in parts):
            return constant([p.const for p in parts])
        fns = tuple(p.fn for p in parts)
        return Node(lambda data, inp: [f(data, inp) for f in fns])


def walk(data: Any, parts: tuple[str, ...], default: Any) -> Any:
    """A dotted path into objects and lists ("items.0.name"), JsonLogic's `var` look-up."""
    for part in parts:
        if isinstance(data, Mapping):
            data = data.get(part, MISSING)
            if data is MISSING:
                return default
        elif type(data) is list or type(data) is tuple:
            if not (part.isascii() and part.isdecimal()) or int(part) >= len(data):
                return default
            data = data[int(part)]
        else:
            return default
    return data


def getter(parts: tuple[str, ...], default: Any) -> Fn:
    """`var` with a fixed path: dict look-ups inline, the general walk only off the fast path."""
    if len(parts) == 1:
        (key,) = parts

        def get1(data: Any, inp: RuleInput) -> Any:
            if type(data) is dict:
                return data.get(key, default)
            return walk(data, parts, default)

        return get1
    if len(parts) == 2:
        first, second = parts

        def get2(data: Any, inp: RuleInput) -> Any:
            if type(data) is dict:
                inner = data.get(first)
                if type(inner) is dict:
                    return inner.get(second, default)
            return walk(data, parts, default)

        return get2
    return lambda data, inp: walk(data, parts, default)


def split_path(raw: object) -> tuple[str, ...] | None:
    """A `var`-style path: "" or null is the whole scope (an empty tuple)."""
    if raw is None or raw == "":
        return ()
    if type(raw) is str:
        return tuple(raw.split("."))
    if type(raw) is int:
        return (str(raw),)
    return None

"""A Jinja2 sandbox whose output, and every text built on the way, stays under a size cap.

Checking the rendered message's length afterwards is too late: `{{ 'x' * 50000000 }}` has built
50 MB by then, and a loop or recursive macro that doubles a text builds far more. Here each way a
template can grow a value is checked *before* the value is built:

- the operators `*`, `**`, `+`, `%` (intercepted binops) and `~` (the code generator emits a
  bounded join instead of Jinja's `str_join`);
- every block's output (`{% set %}…{% endset %}`, macros, the template itself), which Jinja joins
  with `Environment.concat`, here a join that counts as it goes;
- calls and filters: no width over the cap (`center`, `ljust`, `indent`…), and the joins,
  replaces and format strings that multiply text are estimated first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_OUTPUT = 100_000
"""Characters (or items) any rendered text or built value may reach."""
MAX_POWER_BITS = 4_096
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\d*)(?:\.(\d+))?")
_BRACE_SPEC = re.compile(r"\{[^{}]*:([^{}]*)\}")
_WIDTH_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})
_WIDTH_FILTERS = frozenset({"center", "indent", "wordwrap"})


class OutputTooLarge(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} would exceed {MAX_OUTPUT} characters")


def _size(value: object) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple) else len(str(value))


def bounded_join(parts: Iterable[Any]) -> str:
    """`"".join`, refusing once the text passes the cap (parts may come from a generator)."""
    kept: list[str] = []
    total = 0
    for part in parts:
        text = part if isinstance(part, str) else str(part)
        total += len(text)
        if total > MAX_OUTPUT:
            raise OutputTooLarge("the rendered text")
        kept.append(text)
    return "".join(kept)


def _check_format(template: object) -> None:
    """`%100000000d`, `{:>100000000}`: a width in a format string allocates that much."""
    if not isinstance(template, str):
        return
    widths = [w for match in _PERCENT_SPEC.finditer(template) for w in match.groups() if w]
    widths += [w for spec in _BRACE_SPEC.findall(template) for w in re.findall(r"\d+", spec)]
    if any(int(width) > MAX_OUTPUT for width in widths):
        raise OutputTooLarge("a formatted width")


def _check_widths(args: Iterable[Any]) -> None:
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_OUTPUT:
            raise OutputTooLarge(f"a width of {arg}")


def _estimate_join(separator: object, items: object) -> list[Any]:
    listed = list(items) if isinstance(items, Iterable) else []
    sizes = sum(_size(item) for item in listed) + _size(separator) * max(len(listed) - 1, 0)
    if sizes > MAX_OUTPUT:
        raise OutputTooLarge("the joined text")
    return listed


def _estimate_replace(text: object, old: object, new: object) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        found = text.count(old) if old else len(text) + 1
        if len(text) + found * (len(new) - len(old)) > MAX_OUTPUT:
            raise OutputTooLarge("the replaced text")


def _binop_size(operator: str, left: Any, right: Any) -> None:
    sequences = (str, list, tuple)
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            if (
                isinstance(seq, sequences)
                and isinstance(times, int)
                and len(seq) * times > MAX_OUTPUT
            ):
                raise OutputTooLarge("the repeated value")
    elif operator == "**":
        ints = isinstance(left, int) and isinstance(right, int) and right > 0
        if ints and abs(left).bit_length() * right > MAX_POWER_BITS:
            raise OutputTooLarge("the power")
    elif operator == "+":
        both = isinstance(left, sequences) and isinstance(right, sequences)
        if both and len(left) + len(right) > MAX_OUTPUT:
            raise OutputTooLarge("the concatenated value")
    elif operator == "%":
        _check_format(left)


class _BoundedCodeGenerator(CodeGenerator):
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:  # noqa: N802 - Jinja's name
        # As Jinja's own, minus markup (autoescape is off): `a ~ b` joins through the bound.
        self.write("environment.concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


def _bounded_filter(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    # Filters that take the context or environment get it first; the value comes after it.
    skip = 1 if hasattr(original, "jinja_pass_arg") else 0

    def checked(*args: Any, **kwargs: Any) -> Any:
        head, value, rest = args[:skip], args[skip] if len(args) > skip else None, args[skip + 1 :]
        if name in _WIDTH_FILTERS:
            _check_widths([*rest, *kwargs.values()])
        elif name == "join":
            separator = rest[0] if rest else kwargs.get("d", "")
            args = (*head, _estimate_join(separator, value), *rest)
        elif name == "replace" and len(rest) >= 2:
            _estimate_replace(value, rest[0], rest[1])
        elif name == "format":
            _check_format(value)
        return original(*args, **kwargs)

    if skip:
        checked.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return checked


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with every growth of a value checked against MAX_OUTPUT."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    concat = staticmethod(bounded_join)

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        for name in (*_WIDTH_FILTERS, "join", "replace", "format"):
            self.filters[name] = _bounded_filter(name, self.filters[name])

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _binop_size(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        # The sandbox hands str.format out wrapped: the string is the wrapped method's owner.
        owner = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)
        name = getattr(__obj, "__name__", "")
        if isinstance(owner, str):
            if name in _WIDTH_METHODS:
                _check_widths([*args, *kwargs.values()])
            elif name == "join" and args:
                args = (_estimate_join(owner, args[0]), *args[1:])
            elif name == "replace" and len(args) >= 2:
                _estimate_replace(owner, args[0], args[1])
            elif name in ("format", "format_map"):
                _check_format(owner)
        return super().call(__context, __obj, *args, **kwargs)


def oversized(tree: nodes.Template) -> list[str]:
    """What a template's own constants already say is too large (`{{ 'x' * 50000000 }}`), found
    without evaluating anything."""
    found: list[str] = []
    for node in tree.find_all((nodes.BinExpr, nodes.Filter)):
        try:
            if isinstance(node, nodes.BinExpr):
                if isinstance(node.left, nodes.Const) and isinstance(node.right, nodes.Const):
                    _binop_size(node.operator, node.left.value, node.right.value)
            elif isinstance(node, nodes.Filter) and node.name in _WIDTH_FILTERS:
                _check_widths(arg.value for arg in node.args if isinstance(arg, nodes.Const))
        except OutputTooLarge as exc:
            found.append(str(exc))
    return found

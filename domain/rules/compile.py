"""compile_rule: a rule (JSON) → CompiledRule, built once and cached by its canonical JSON."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from domain.errors import InvalidInput
from domain.rules.core_ops import CORE
from domain.rules.explain import Explanation, Recorder
from domain.rules.extra_ops import EXTRAS
from domain.rules.nodes import Builder, Compiler, Fn
from domain.rules.shape import MAX_DEPTH, Path, guard_size
from domain.rules.types import RuleInput

BUILDERS: dict[str, Builder] = {**CORE, **EXTRAS}
ROOT: Path = ("condition",)


class CompiledRule:
    """A rule ready to evaluate many times; immutable and safe to share between threads."""

    __slots__ = ("_fn", "rule")

    def __init__(self, rule: Any) -> None:
        """Prefer compile_rule, which caches; this compiles every time."""
        guard_size(rule, ROOT)  # before anything recurses into the rule
        self.rule = rule
        self._fn: Fn = Compiler(BUILDERS).expr(rule, ROOT, "").fn

    def evaluate(self, inp: RuleInput) -> bool:
        """Whether the rule holds, by JsonLogic truthiness of its value."""
        return bool(self._fn(inp.data, inp))

    def value(self, inp: RuleInput) -> Any:
        """What the rule computes (JsonLogic returns values, e.g. `and` its deciding argument)."""
        return self._fn(inp.data, inp)

    def explain(self, inp: RuleInput) -> Explanation:
        recorder = Recorder()
        fn = Compiler(BUILDERS, recorder).expr(self.rule, ROOT, "").fn
        return recorder.explanation(fn(inp.data, inp))

    def __repr__(self) -> str:
        return f"CompiledRule({json.dumps(self.rule, sort_keys=True)[:200]})"


# One encoder, built once: json.dumps with any option builds a new one per call, which cost
# more than evaluating a rule. sort_keys makes the text canonical.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)


def compile_rule(rule: object) -> CompiledRule:
    """Raises InvalidInput for a malformed rule (unknown operator, wrong arity, bad pattern…).

    It does not check variables or types: run check_rule when the rule is saved. A cache hit
    costs one JSON encoding of the rule; callers evaluating a rule very often keep the
    CompiledRule instead.
    """
    try:
        key = _CANONICAL.encode(rule)
    except RecursionError:
        raise InvalidInput(f"nests more than {MAX_DEPTH} levels deep; flatten it", ROOT) from None
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"is not plain JSON: {exc}", ROOT) from None
    return _compiled(key)


@lru_cache(maxsize=1024)
def _compiled(key: str) -> CompiledRule:
    # Compiling from the canonical text (not the caller's object) means a later change to the
    # caller's dict cannot reach a cached rule, and `true` and `1` never share an entry.
    return CompiledRule(json.loads(key))  # guards its size: on a miss only

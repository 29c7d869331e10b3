"""Conditions of workflow automation: a JsonLogic-compatible rule language.

- `check_rule` when a rule is saved: types against the trigger's variables, with JSON paths;
- `compile_rule` to evaluate it many times fast (closures built once, cached);
- `CompiledRule.explain` to show a user which parts were true or false.

The language: JsonLogic's core operators (var, ==, !=, ===, !==, <, <=, >, >=, and, or, !, !!,
if, in, missing, missing_some, some, all, none, +, -, *, /, %, min, max, cat) plus workflow
operators (contains, starts_with, ends_with, between, matches, before, after, on_or_before,
on_or_after, within_last_days, within_next_days, {"today": N}, changed, changed_from,
changed_to, within_km). Semantics are described in values.py, dates.py and the builders.
"""

from __future__ import annotations

from domain.fields import VarType
from domain.rules.check import check_rule
from domain.rules.compile import CompiledRule, compile_rule
from domain.rules.explain import Explanation, TraceNode
from domain.rules.types import RuleInput, field_var_types

__all__ = [
    "CompiledRule",
    "Explanation",
    "RuleInput",
    "TraceNode",
    "VarType",
    "check_rule",
    "compile_rule",
    "field_var_types",
]

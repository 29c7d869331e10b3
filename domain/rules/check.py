"""check_rule: refuse a rule that cannot mean what its author wants, with the path of the fault.

Run when a rule is saved (the command handler and the validation worker both do, through
domain/process_action.py), so that evaluation never meets an unknown field or a nonsensical
comparison. See check_base.py for how types are inferred and check_ops.py for each operator.
"""

from __future__ import annotations

from collections.abc import Mapping

from domain.fields import VarType
from domain.rules.check_base import TOP, Checker
from domain.rules.check_ops import SIGNATURES
from domain.rules.shape import guard_size


def check_rule(
    rule: object,
    variables: Mapping[str, VarType],
    *,
    changes: bool,
    path: tuple[str | int, ...] = ("condition",),
) -> None:
    """Raises InvalidInput (message and path) at the first fault; returns None when valid.

    `changes` says whether the trigger has a previous state (changed, changed_from, changed_to).
    """
    guard_size(rule, path)
    Checker(variables, changes, SIGNATURES).expr(rule, path, TOP)

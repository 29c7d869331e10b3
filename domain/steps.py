"""The follow-up steps of a process action: multi-step automation with escalation.

    {"name": "sms-if-still-fixing", "after": "PT1H",
     "if": {"==": [{"var": "stage"}, "fixing"]}, "action_id": "<id>"}
    {"name": "call-the-lead", "when": "dead", "action_id": "<id>", "recipients": [{"role": "lead"}]}

A step `after` a delay is planned with the process action's own runs, due that long after the
trigger; its `if` is checked when it falls due, against the record as it is then (the case
still in `fixing`?), and a step whose condition no longer holds is cancelled, saying so. A step
`when: dead` runs once a run of the process action ends dead (every attempt failed): a fallback
on another channel or to other recipients. Every step's runs have ids derived from the run or
trigger they follow, so a redelivered event or outcome never plans one twice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from uuid import UUID

from domain.errors import InvalidInput
from domain.recipients import parse_recipients
from domain.rules import VarType, check_rule
from domain.schedules.durations import Duration, parse_duration

NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
MAX_STEPS = 10
MAX_DELAY = timedelta(days=366)
_KEYS = {"name", "when", "after", "if", "action_id", "recipients"}

Path = tuple[str | int, ...]


def parse_steps(
    raw: object,
    variables: Mapping[str, VarType],
    process_trigger: bool,
    path: Path = ("steps",),
) -> list[dict[str, Any]]:
    """Checked steps, as stored; refused with the path of the first fault."""
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_STEPS:
        raise InvalidInput(f"a list of at most {MAX_STEPS} steps", path)
    steps: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        at = (*path, i)
        if not isinstance(item, Mapping):
            raise InvalidInput('a step is {"name": …, "after": "PT1H", "action_id": …}', at)
        unknown = sorted(set(item) - _KEYS)
        if unknown:
            raise InvalidInput(
                f"unknown key (a step has {', '.join(sorted(_KEYS))})", (*at, unknown[0])
            )
        name = item.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            raise InvalidInput("1-63 lower-case letters, digits, '-' or '_'", (*at, "name"))
        if any(step["name"] == name for step in steps):
            raise InvalidInput(f"step {name!r} appears twice", (*at, "name"))
        when = item.get("when", "after")
        if when not in ("after", "dead"):
            raise InvalidInput('"after" (a delay after the trigger) or "dead"', (*at, "when"))
        step: dict[str, Any] = {"name": name, "when": when}
        if when == "after":
            delay = parse_duration(item.get("after"), (*at, "after"))
            if not timedelta(0) < delay <= MAX_DELAY:
                raise InvalidInput("a delay from PT1S to P366D", (*at, "after"))
            step["after"] = Duration(0, delay).to_iso()
            if item.get("if") is not None:
                check_rule(item["if"], variables, changes=False, path=(*at, "if"))
            step["if"] = item.get("if")
        elif item.get("after") is not None or item.get("if") is not None:
            raise InvalidInput("a step when a run is dead has no delay or condition", at)
        try:
            step["action_id"] = str(UUID(str(item.get("action_id"))))
        except ValueError:
            raise InvalidInput("must be an action id", (*at, "action_id")) from None
        step["recipients"] = parse_recipients(
            item.get("recipients"), process_trigger, (*at, "recipients")
        )
        steps.append(step)
    return steps


def delay_of(step: Mapping[str, Any]) -> timedelta:
    return parse_duration(step["after"])

"""ProcessAction: a catalog action attached to a trigger, with a condition and a schedule."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, InvalidInput
from domain.names import clean_name
from domain.rules import VarType, check_rule
from domain.schedules import CatchUp, Schedule, parse_catch_up, parse_schedule
from domain.triggers import Trigger

_DATES = ("date", "datetime")


def check_definition(
    trigger: Trigger,
    condition: object,
    schedule: object,
    catch_up: object,
    variables: Mapping[str, VarType],
) -> tuple[Schedule, CatchUp]:
    """Everything about a process action that can be checked without I/O, with JSON paths.

    The command handler and the validation worker both call this, so they cannot disagree.
    """
    if condition is not None:
        if trigger.on == "schedule":
            raise InvalidInput(
                "a scheduled action has no triggering record to test", ("condition",)
            )
        check_rule(condition, variables, changes=trigger.has_previous)
    parsed = parse_schedule(schedule)
    if trigger.on == "schedule" and not (parsed.recurring or parsed.type_name == "at"):
        raise InvalidInput(
            "an action triggered by the clock needs a cron, rrule, interval or at schedule",
            ("schedule", "type"),
        )
    if trigger.on != "schedule" and parsed.recurring:
        raise InvalidInput(
            'a recurring schedule needs the trigger {"on": "schedule"}', ("schedule", "type")
        )
    for name in sorted(parsed.fields_used()):
        if variables.get(name) not in _DATES:
            known = sorted(k for k, t in variables.items() if t in _DATES)
            raise InvalidInput(
                f"{name!r} is not a date or datetime field of this trigger; "
                f"known: {', '.join(known) or 'none'}",
                ("schedule", "to"),
            )
    return parsed, parse_catch_up(catch_up)


class ProcessAction(Aggregate):
    @event("Attached")
    def __init__(
        self,
        tenant_id: UUID,
        name: str,
        action_id: UUID,
        trigger: dict[str, Any],
        condition: dict[str, Any] | None,
        schedule: dict[str, Any],
        catch_up: dict[str, Any],
    ) -> None:
        self.tenant_id = tenant_id
        self.name = name
        self.action_id = action_id
        self.trigger = trigger
        self.condition = condition
        self.schedule = schedule
        self.catch_up = catch_up
        self.paused = False

    recipients: tuple[dict[str, str], ...] = ()
    """Who its runs address (`domain.recipients`); none: the addresses its action names.
    (A class default: process actions stored before recipients existed have none.)"""

    def address(self, recipients: list[dict[str, str]]) -> None:
        if tuple(recipients) != self.recipients:
            self._addressed(recipients)

    @event("Addressed")
    def _addressed(self, recipients: list[dict[str, str]]) -> None:
        self.recipients = tuple(recipients)

    steps: tuple[dict[str, Any], ...] = ()
    """Its follow-up and fallback steps (`domain.steps`)."""

    def set_steps(self, steps: list[dict[str, Any]]) -> None:
        if tuple(steps) != self.steps:
            self._steps_set(steps)

    @event("StepsSet")
    def _steps_set(self, steps: list[dict[str, Any]]) -> None:
        self.steps = tuple(steps)

    @classmethod
    def attach(
        cls,
        tenant_id: UUID,
        name: str,
        action_id: UUID,
        trigger: Trigger,
        condition: dict[str, Any] | None,
        schedule: object,
        catch_up: object,
        variables: Mapping[str, VarType],
    ) -> ProcessAction:
        parsed, policy = check_definition(trigger, condition, schedule, catch_up, variables)
        return cls(
            tenant_id=tenant_id,
            name=clean_name(name, max_length=100),
            action_id=action_id,
            trigger=trigger.to_json(),
            condition=condition,
            schedule=parsed.to_json(),
            catch_up=policy.to_json(),
        )

    def revise(
        self,
        trigger: Trigger,
        condition: dict[str, Any] | None,
        schedule: object,
        catch_up: object,
        variables: Mapping[str, VarType],
    ) -> None:
        parsed, policy = check_definition(trigger, condition, schedule, catch_up, variables)
        self._revised(condition, parsed.to_json(), policy.to_json())

    @event("Revised")
    def _revised(
        self, condition: dict[str, Any] | None, schedule: dict[str, Any], catch_up: dict[str, Any]
    ) -> None:
        self.condition = condition
        self.schedule = schedule
        self.catch_up = catch_up

    def pause(self) -> None:
        if self.paused:
            raise Conflict("process action is already paused")
        self._paused()

    @event("Paused")
    def _paused(self) -> None:
        self.paused = True

    def resume(self) -> None:
        if not self.paused:
            raise Conflict("process action is not paused")
        self._resumed()

    @event("Resumed")
    def _resumed(self) -> None:
        self.paused = False

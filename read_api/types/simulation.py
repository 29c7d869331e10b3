"""`simulateProcessAction`: what a proposed (or an existing) process action would have planned
over the tenant's recorded history — which runs, when, for which record — with no side effects.
It is the live reactor's own planning, replayed: what makes a rule safe to switch on."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from domain.errors import DomainError, InvalidInput
from domain.fields import DataInvalid
from domain.process_action import check_definition
from domain.recipients import parse_recipients
from domain.steps import parse_steps
from domain.triggers import has_process, parse_trigger
from projections.automation.queries import AutomationReads
from read_api.errors import PublicError
from read_api.ports import SimulatedRun as Planned
from read_api.types.automation_rules import RuleFault, rule_faults, trigger_fields
from read_api.types.common import Info, field

MAX_RUNS = 10_000


@strawberry.input(description="A process action as `attach-process-action` takes it.")
class ProcessActionProposal:
    action_id: UUID
    trigger: JSON
    condition: JSON | None = None
    schedule: JSON | None = None
    recipients: JSON | None = None
    steps: JSON | None = None


@strawberry.type(description="A run the process action would have planned.")
class SimulatedRun:
    trigger_key: str = strawberry.field(description="As a live run's: event, step, recipient.")
    planned_at: datetime
    action_id: UUID
    event: str = strawberry.field(description="The triggering event, e.g. Process.StageEntered.")
    position: int = strawberry.field(description="The triggering event's position.")
    record_id: UUID
    recipient_id: UUID | None
    step: str | None = strawberry.field(description="The follow-up step it is (null: the action).")
    conditional: bool = strawberry.field(
        description="A follow-up whose condition would have been checked when it fell due."
    )

    @classmethod
    def of(cls, run: Planned) -> SimulatedRun:
        return cls(
            trigger_key=run.trigger_key,
            planned_at=run.planned_at,
            action_id=run.action_id,
            event=run.event,
            position=run.position,
            record_id=run.record_id,
            recipient_id=run.recipient_id,
            step=run.step,
            conditional=run.conditional,
        )


@strawberry.type(description="What a process action would have planned over history.")
class ProcessActionSimulation:
    valid: bool
    errors: list[RuleFault]
    events_replayed: int = strawberry.field(description="The trigger's events replayed.")
    seconds: float
    truncated: bool = strawberry.field(
        description="More runs than `limit` would have been planned."
    )
    runs: list[SimulatedRun]


def _faults(exc: InvalidInput | DataInvalid) -> ProcessActionSimulation:
    return ProcessActionSimulation(
        valid=False,
        errors=rule_faults(exc),
        events_replayed=0,
        seconds=0.0,
        truncated=False,
        runs=[],
    )


async def _proposed(info: Info, proposal: ProcessActionProposal) -> dict[str, Any]:
    """The definition as the command side would store it (checked the same way)."""
    trigger = parse_trigger(proposal.trigger)
    actions = await info.context.run(
        lambda r: r.of(AutomationReads).actions_by_ids([proposal.action_id])
    )
    if proposal.action_id not in actions:
        raise InvalidInput("no action with this id", ("actionId",))
    variables = trigger.variables(await trigger_fields(info, trigger))
    schedule, _ = check_definition(
        trigger, proposal.condition, proposal.schedule or {"type": "immediate"}, None, variables
    )
    return {
        "action_id": str(proposal.action_id),
        "trigger": trigger.to_json(),
        "condition": proposal.condition,
        "schedule": schedule.to_json(),
        "recipients": parse_recipients(proposal.recipients, has_process(trigger)),
        "steps": parse_steps(proposal.steps, variables, has_process(trigger)),
    }


@strawberry.type
class SimulationQuery:
    @field(
        "Replay the tenant's recorded history (events from `since` to `until`) through a "
        "process action — an attached one (`processActionId`) or a `proposal` — and return the "
        "runs it would have planned and when, as the live reactor plans them. Nothing is "
        "planned, sent or stored. A faulty proposal is an answer (`valid: false`, with paths)."
    )
    async def simulate_process_action(
        self,
        info: Info,
        process_action_id: UUID | None = None,
        proposal: ProcessActionProposal | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1_000,
    ) -> ProcessActionSimulation:
        if (process_action_id is None) == (proposal is None):
            raise PublicError("give a processActionId or a proposal")
        if not 1 <= limit <= MAX_RUNS:
            raise PublicError(f"limit must be between 1 and {MAX_RUNS} (got {limit})")
        simulate = info.context.api.simulate
        if simulate is None:
            raise PublicError("simulation is not available on this server")
        if proposal is not None:
            try:
                definition = await _proposed(info, proposal)
            except (DomainError, DataInvalid) as exc:
                if isinstance(exc, InvalidInput | DataInvalid):
                    return _faults(exc)
                raise
        else:
            assert process_action_id is not None
            found = await info.context.run(
                lambda r: r.of(AutomationReads).process_actions_by_ids([process_action_id])
            )
            row = found.get(process_action_id)
            if row is None:
                raise PublicError("no process action with this id")
            definition = {
                "action_id": str(row.action_id),
                "trigger": row.trigger,
                "condition": row.condition,
                "schedule": row.schedule,
                "recipients": row.recipients,
                "steps": row.steps,
            }
        viewer = info.context.require_viewer()
        result = await simulate(viewer.tenant_id, definition, since, until, limit)
        return ProcessActionSimulation(
            valid=True,
            errors=[],
            events_replayed=result.events,
            seconds=result.seconds,
            truncated=result.truncated,
            runs=[SimulatedRun.of(run) for run in result.runs],
        )

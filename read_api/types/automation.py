"""Automation configuration: occurrence kinds, the action catalog and process actions.

Runs live in `automation_runs.py` and the rule dry run in `automation_rules.py`. A catalog
action shows whether it has provider credentials, never the credentials (the read model does
not hold them at all).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from domain.triggers import TRIGGERS
from projections.automation.queries import (
    ACTION,
    OCCURRENCE_KIND,
    PROCESS_ACTION,
    ActionRow,
    AutomationReads,
    OccurrenceKindRow,
    ProcessActionFilter,
    ProcessActionRow,
)
from read_api.errors import PublicError
from read_api.types.common import FilterInput, Info, RowType, field


@strawberry.type(description="The typed fields of one kind of occurrence (incident, visit…).")
class OccurrenceKind(OccurrenceKindRow, RowType[OccurrenceKindRow]):
    fields: list[dict[str, Any]] = strawberry.field(graphql_type=JSON)


@strawberry.type(description="A catalog action: a channel, a template and the channel's config.")
class Action(ActionRow, RowType[ActionRow]):
    template: dict[str, Any] = strawberry.field(graphql_type=JSON)
    config: dict[str, Any] = strawberry.field(graphql_type=JSON)
    has_credentials: bool = strawberry.field(
        description="Whether provider credentials are stored (they are never shown)."
    )
    retry: dict[str, Any] = strawberry.field(graphql_type=JSON)


@strawberry.type(
    description="A catalog action attached to a trigger, with a condition and a schedule."
)
class ProcessAction(ProcessActionRow, RowType[ProcessActionRow]):
    trigger: dict[str, Any] = strawberry.field(graphql_type=JSON)
    condition: dict[str, Any] | None = strawberry.field(graphql_type=JSON | None)
    schedule: dict[str, Any] = strawberry.field(graphql_type=JSON)
    catch_up: dict[str, Any] = strawberry.field(graphql_type=JSON)
    recipients: list[dict[str, str]] = strawberry.field(graphql_type=JSON)
    steps: list[dict[str, Any]] = strawberry.field(graphql_type=JSON)

    @strawberry.field
    async def action(self, info: Info) -> Action | None:
        return await action_by_id(info, self.action_id)


async def action_by_id(info: Info, action_id: UUID) -> Action | None:
    row = await info.context.loaders.of(ACTION).load(action_id)
    return Action.of(row) if row else None


async def process_action_by_id(info: Info, process_action_id: UUID) -> ProcessAction | None:
    row = await info.context.loaders.of(PROCESS_ACTION).load(process_action_id)
    return ProcessAction.of(row) if row else None


@strawberry.input(name="ProcessActionFilter")
class ProcessActionWhere(ProcessActionFilter, FilterInput[ProcessActionFilter]):
    trigger_on: str | None = strawberry.field(
        default=None, description=f"One of {', '.join(TRIGGERS)}."
    )

    def checked(self, where: ProcessActionFilter) -> ProcessActionFilter:
        if where.trigger_on is not None and where.trigger_on not in TRIGGERS:
            raise PublicError(f"triggerOn must be one of {', '.join(TRIGGERS)}")
        return where


@strawberry.type
class AutomationQuery:
    @field("The tenant's occurrence kinds, by name.")
    async def occurrence_kinds(self, info: Info) -> list[OccurrenceKind]:
        rows = await info.context.run(lambda reads: reads.of(AutomationReads).occurrence_kinds())
        return [OccurrenceKind.of(row) for row in rows]

    @strawberry.field
    async def occurrence_kind(self, info: Info, id: UUID) -> OccurrenceKind | None:
        row = await info.context.loaders.of(OCCURRENCE_KIND).load(id)
        return OccurrenceKind.of(row) if row else None

    @field("The action catalog, by name; retired actions only when asked.")
    async def actions(self, info: Info, include_retired: bool = False) -> list[Action]:
        rows = await info.context.run(
            lambda reads: reads.of(AutomationReads).actions(include_retired)
        )
        return [Action.of(row) for row in rows]

    @field("One catalog action by id (retired ones too, flagged).")
    async def action(self, info: Info, id: UUID) -> Action | None:
        return await action_by_id(info, id)

    @field("Process actions, by name, filtered by catalog action, trigger and pause state.")
    async def process_actions(
        self, info: Info, filter: ProcessActionWhere | None = None
    ) -> list[ProcessAction]:
        where = filter.to_filter() if filter else ProcessActionFilter()
        rows = await info.context.run(
            lambda reads: reads.of(AutomationReads).process_actions(where)
        )
        return [ProcessAction.of(row) for row in rows]

    @strawberry.field
    async def process_action(self, info: Info, id: UUID) -> ProcessAction | None:
        return await process_action_by_id(info, id)

"""Automation configuration: occurrence kinds, the action catalog and process actions.

Runs live in `automation_runs.py` and the rule dry run in `automation_rules.py`. A catalog
action shows whether it has provider credentials, never the credentials (the read model does
not hold them at all).
"""

from __future__ import annotations

from datetime import datetime
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
from read_api.types.common import Info, field


@strawberry.type(description="The typed fields of one kind of occurrence (incident, visit…).")
class OccurrenceKind:
    id: UUID
    name: str
    description: str
    fields: JSON
    version: int
    position: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def of(row: OccurrenceKindRow) -> OccurrenceKind:
        return OccurrenceKind(
            id=row.id,
            name=row.name,
            description=row.description,
            fields=JSON(row.fields),
            version=row.version,
            position=row.position,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(description="A catalog action: a channel, a template and the channel's config.")
class Action:
    id: UUID
    name: str
    channel: str
    template: JSON
    config: JSON
    has_credentials: bool = strawberry.field(
        description="Whether provider credentials are stored (they are never shown)."
    )
    retry: JSON
    retired: bool
    version: int
    position: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def of(row: ActionRow) -> Action:
        return Action(
            id=row.id,
            name=row.name,
            channel=row.channel,
            template=JSON(row.template),
            config=JSON(row.config),
            has_credentials=row.has_credentials,
            retry=JSON(row.retry),
            retired=row.retired,
            version=row.version,
            position=row.position,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(
    description="A catalog action attached to a trigger, with a condition and a schedule."
)
class ProcessAction:
    id: UUID
    name: str
    action_id: UUID
    trigger: JSON
    trigger_on: str
    condition: JSON | None
    schedule: JSON
    catch_up: JSON
    paused: bool
    version: int
    position: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def of(row: ProcessActionRow) -> ProcessAction:
        return ProcessAction(
            id=row.id,
            name=row.name,
            action_id=row.action_id,
            trigger=JSON(row.trigger),
            trigger_on=row.trigger_on,
            condition=None if row.condition is None else JSON(row.condition),
            schedule=JSON(row.schedule),
            catch_up=JSON(row.catch_up),
            paused=row.paused,
            version=row.version,
            position=row.position,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

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
class ProcessActionWhere:
    action_id: UUID | None = None
    trigger_on: str | None = strawberry.field(
        default=None, description=f"One of {', '.join(TRIGGERS)}."
    )
    include_paused: bool = True

    def to_filter(self) -> ProcessActionFilter:
        if self.trigger_on is not None and self.trigger_on not in TRIGGERS:
            raise PublicError(f"triggerOn must be one of {', '.join(TRIGGERS)}")
        return ProcessActionFilter(
            action_id=self.action_id,
            trigger_on=self.trigger_on,
            include_paused=self.include_paused,
        )


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

"""Action runs: each planned execution of a process action, its status and every attempt."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from projections.automation.runs import ACTION_RUN, ActionRunRow, AttemptRow, RunFilter, RunReads
from read_api.types.automation import Action, ProcessAction, action_by_id, process_action_by_id
from read_api.types.common import DEFAULT_PAGE, Connection, Info, connection, field, page_size


@strawberry.enum(
    description="planned → sending → delivered; a failed send is retrying (then "
    "sending again) or dead; planned or retrying runs may be cancelled."
)
class ActionRunStatus(Enum):
    PLANNED = "planned"
    SENDING = "sending"
    DELIVERED = "delivered"
    RETRYING = "retrying"
    DEAD = "dead"
    CANCELLED = "cancelled"


@strawberry.enum(description="How one attempt ended (SENDING: not yet).")
class AttemptOutcome(Enum):
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"


@strawberry.type(description="One attempt to send a run, first attempt first in `attemptHistory`.")
class ActionRunAttempt:
    attempt: int
    started_at: datetime
    finished_at: datetime | None
    outcome: AttemptOutcome
    error: str | None
    detail: str | None = strawberry.field(description="The provider's answer when delivered.")
    provider_message_id: str | None
    next_attempt_at: datetime | None = strawberry.field(
        description="When a failed attempt is retried; null if it is not."
    )

    @staticmethod
    def of(row: AttemptRow) -> ActionRunAttempt:
        return ActionRunAttempt(
            attempt=row.attempt,
            started_at=row.started_at,
            finished_at=row.finished_at,
            outcome=AttemptOutcome(row.outcome),
            error=row.error,
            detail=row.detail,
            provider_message_id=row.provider_message_id,
            next_attempt_at=row.next_attempt_at,
        )


@strawberry.type(description="One planned execution of a process action, and what became of it.")
class ActionRun:
    id: UUID
    process_action_id: UUID
    action_id: UUID
    trigger_key: str
    status: ActionRunStatus
    planned_at: datetime
    due_at: datetime = strawberry.field(description="When it is (next) to be sent.")
    attempts: int
    last_error: str | None
    provider_message_id: str | None
    context: JSON = strawberry.field(description="The triggering record, as it was.")
    version: int
    position: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @staticmethod
    def of(row: ActionRunRow) -> ActionRun:
        return ActionRun(
            id=row.id,
            process_action_id=row.process_action_id,
            action_id=row.action_id,
            trigger_key=row.trigger_key,
            status=ActionRunStatus(row.status),
            planned_at=row.planned_at,
            due_at=row.due_at,
            attempts=row.attempts,
            last_error=row.last_error,
            provider_message_id=row.provider_message_id,
            context=JSON(row.context),
            version=row.version,
            position=row.position,
            created_at=row.created_at,
            updated_at=row.updated_at,
            finished_at=row.finished_at,
        )

    @strawberry.field
    async def attempt_history(self, info: Info) -> list[ActionRunAttempt]:
        rows = await info.context.loaders.lists(RunReads, RunReads.attempts).load(self.id)
        return [ActionRunAttempt.of(row) for row in rows]

    @strawberry.field
    async def process_action(self, info: Info) -> ProcessAction | None:
        return await process_action_by_id(info, self.process_action_id)

    @strawberry.field
    async def action(self, info: Info) -> Action | None:
        return await action_by_id(info, self.action_id)


@strawberry.input(name="ActionRunFilter")
class ActionRunWhere:
    status: list[ActionRunStatus] | None = strawberry.field(
        default=None, description="Any of these statuses."
    )
    process_action_id: UUID | None = None
    action_id: UUID | None = None
    planned_after: datetime | None = None
    planned_before: datetime | None = None

    def to_filter(self) -> RunFilter:
        return RunFilter(
            statuses=tuple(s.value for s in self.status or ()),
            process_action_id=self.process_action_id,
            action_id=self.action_id,
            planned_after=self.planned_after,
            planned_before=self.planned_before,
        )


@strawberry.type
class ActionRunQuery:
    @field(
        "Action runs, most recently planned first, by status, process action, catalog "
        "action and planned time."
    )
    async def action_runs(
        self,
        info: Info,
        filter: ActionRunWhere | None = None,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> Connection[ActionRun]:
        size = page_size(first)
        where = filter.to_filter() if filter else RunFilter()
        page = await info.context.run(lambda reads: reads.of(RunReads).page(where, size, after))
        return connection(page, ActionRun.of)

    @strawberry.field
    async def action_run(self, info: Info, id: UUID) -> ActionRun | None:
        row = await info.context.loaders.of(ACTION_RUN).load(id)
        return ActionRun.of(row) if row else None

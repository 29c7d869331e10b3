"""Action runs: each planned execution of a process action, its status and every attempt."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from projections.automation.runs import ACTION_RUN, ActionRunRow, AttemptRow, RunFilter, RunReads
from read_api.types.automation import Action, ProcessAction, action_by_id, process_action_by_id
from read_api.types.common import (
    DEFAULT_PAGE,
    Connection,
    FilterInput,
    Info,
    RowType,
    connection,
    field,
    page_size,
)


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
class ActionRunAttempt(AttemptRow, RowType[AttemptRow]):
    run_id: strawberry.Private[UUID]
    outcome: str = strawberry.field(graphql_type=AttemptOutcome)
    detail: str | None = strawberry.field(description="The provider's answer when delivered.")
    next_attempt_at: datetime | None = strawberry.field(
        description="When a failed attempt is retried; null if it is not."
    )


@strawberry.type(description="One planned execution of a process action, and what became of it.")
class ActionRun(ActionRunRow, RowType[ActionRunRow]):
    status: str = strawberry.field(graphql_type=ActionRunStatus)
    due_at: datetime = strawberry.field(description="When it is (next) to be sent.")
    context: dict[str, Any] = strawberry.field(
        graphql_type=JSON, description="The triggering record, as it was."
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
class ActionRunWhere(RunFilter, FilterInput[RunFilter]):
    status: tuple[str, ...] | None = strawberry.field(
        default=None,
        graphql_type=list[ActionRunStatus] | None,
        description="Any of these statuses.",
    )

    def checked(self, where: RunFilter) -> RunFilter:
        # GraphQL gives a list of enum members or null; the filter wants their values.
        return replace(where, status=tuple(ActionRunStatus(s).value for s in where.status or ()))


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

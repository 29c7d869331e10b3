"""Live changes over graphql-transport-ws: each message carries the new state and its position.

A subscription registers a bounded queue with the process's fan-out (tenant from the token
given in `connection_init`), loads each change's new state under row-level security (shared
between subscribers, see `states.py`) and filters it. When the client leaves, the generator is
closed and its queue is unregistered.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any
from uuid import UUID

import strawberry

from projections.notify import Change
from read_api.types.automation_runs import ActionRun
from read_api.types.common import Info, subscription
from read_api.types.entities import Entity
from read_api.types.occurrences import Occurrence
from read_api.types.processes import Process

RECORDED = "Occurrence.Recorded"


@strawberry.type(description="An entity's new state after a change.")
class EntityChange:
    position: int
    event: str
    entity: Entity


@strawberry.type(description="A process's new state after a change.")
class ProcessChange:
    position: int
    event: str
    process: Process


@strawberry.type(description="A newly recorded occurrence.")
class OccurrenceChange:
    position: int
    occurrence: Occurrence


@strawberry.type(description="An action run's new state after one of its events (planned, "
                 "started, delivered, failed, cancelled).")  # fmt: skip
class ActionRunChange:
    position: int
    event: str
    run: ActionRun


async def changes(
    info: Info, kind: str, wanted: Callable[[Change], bool]
) -> AsyncIterator[tuple[Change, Any]]:
    """(change, new row) for this tenant's changes of `kind` that pass `wanted`."""
    api, viewer = info.context.api, info.context.require_viewer()
    async with api.fanout.subscribe(viewer.tenant_id, {kind}) as feed:
        async for change in feed:
            if not wanted(change):
                continue
            row = await api.states.row(change)
            if row is not None:
                yield change, row


@strawberry.type
class Subscription:
    @subscription("Entities as they change; filter by type and/or id.")
    async def entity_changed(
        self, info: Info, entity_type_id: UUID | None = None, id: UUID | None = None
    ) -> AsyncGenerator[EntityChange, None]:
        async for change, row in changes(info, "entity", lambda c: id is None or c.id == id):
            if entity_type_id is None or row.entity_type_id == entity_type_id:
                yield EntityChange(
                    position=change.position, event=change.type, entity=Entity.of(row)
                )

    @subscription("Processes as they change; filter by kind and/or id.")
    async def process_changed(
        self, info: Info, kind: str | None = None, id: UUID | None = None
    ) -> AsyncGenerator[ProcessChange, None]:
        async for change, row in changes(info, "process", lambda c: id is None or c.id == id):
            if kind is None or row.kind == kind:
                yield ProcessChange(
                    position=change.position, event=change.type, process=Process.of(row)
                )

    @subscription("Occurrences as they are recorded; filter by kind.")
    async def occurrence_recorded(
        self, info: Info, kind: str | None = None
    ) -> AsyncGenerator[OccurrenceChange, None]:
        async for change, row in changes(info, "occurrence", lambda c: c.type == RECORDED):
            if kind is None or row.kind == kind:
                yield OccurrenceChange(position=change.position, occurrence=Occurrence.of(row))

    @subscription("Action runs as they are planned, sent, delivered, failed or cancelled; "
                  "filter by run and/or process action.")  # fmt: skip
    async def action_run_changed(
        self, info: Info, id: UUID | None = None, process_action_id: UUID | None = None
    ) -> AsyncGenerator[ActionRunChange, None]:
        async for change, row in changes(info, "action_run", lambda c: id is None or c.id == id):
            if process_action_id is None or row.process_action_id == process_action_id:
                yield ActionRunChange(
                    position=change.position, event=change.type, run=ActionRun.of(row)
                )

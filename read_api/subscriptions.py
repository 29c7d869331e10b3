"""Live changes over graphql-transport-ws: each message carries the new state and its position.

A subscription registers a bounded queue with the process's fan-out (tenant from the token
given in `connection_init`), loads each change's new state under row-level security (shared
between subscribers, see `changed_rows.py`) and filters it. When the client leaves, the generator is
closed and its queue is unregistered. Identical subscriptions run once for all their sockets
(`broadcast.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from typing import Any
from uuid import UUID

import strawberry

from projections.notify import Change
from read_api.areas import KIND_AREAS, require_kind
from read_api.changed_rows import FETCH
from read_api.context import ReadApi
from read_api.ports import Viewer
from read_api.types.assistant import SummaryChunk, summary_of_occurrence, summary_of_process
from read_api.types.automation_runs import ActionRun
from read_api.types.common import Info, subscription
from read_api.types.entities import Entity
from read_api.types.imports import Import
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


@strawberry.type(
    description="An action run's new state after one of its events (planned, "
    "started, delivered, failed, cancelled)."
)
class ActionRunChange:
    position: int
    event: str
    run: ActionRun


async def changes(
    info: Info, kind: str, wanted: Callable[[Change], bool]
) -> AsyncIterator[tuple[Change, Any]]:
    """(change, new row) for this tenant's changes of `kind` that pass `wanted`."""
    api, viewer = info.context.api, info.context.require_viewer()
    require_kind(viewer.grants, kind)
    area = KIND_AREAS.get(kind)
    restricted = area is not None and viewer.grants.scope(area) is not None
    async with api.fanout.subscribe(viewer.tenant_id, {kind}) as feed:
        async for batch in feed:
            chosen = [change for change in batch if wanted(change)]
            loaded = await rows(api, chosen)
            if restricted and chosen:
                loaded = await as_seen_by(api, viewer, kind, chosen, loaded)
            for change, row in zip(chosen, loaded, strict=True):
                if row is not None:
                    yield change, row


async def as_seen_by(
    api: ReadApi, viewer: Viewer, kind: str, changes: list[Change], loaded: list[Any]
) -> list[Any]:
    """The rows again, read as a reader with restricted grants sees them (its row rule, its
    hidden fields): the shared load has whole rows; those it may not see become None."""
    ids = [row.id for row in loaded if row is not None]
    async with api.session(viewer.tenant_id, reader=viewer) as reads:
        seen = await FETCH[kind](reads, ids) if ids else {}
    return [
        seen.get(change.id) if row is not None else None
        for change, row in zip(changes, loaded, strict=True)
    ]


async def rows(api: ReadApi, changes: list[Change]) -> list[Any]:
    """The new row of each change: all that were waiting in one query per kind and tenant,
    then `changed_rows.row` (shared, waits for the owner's position) for rows not there yet.

    One load after another, each change waited for the round trips of every change queued
    before it (measured: +80 ms p50 at 100 changes/s, more when commands load the process)."""
    if len(changes) < 2:
        return [await api.changed_rows.row(change) for change in changes]
    wanted: dict[tuple[str, UUID], list[UUID]] = {}
    for change in changes:
        wanted.setdefault((change.kind, change.tenant_id), []).append(change.id)
    found: dict[tuple[str, UUID], Mapping[UUID, Any]] = {}
    for (kind, tenant_id), ids in wanted.items():
        fetch = FETCH.get(kind)
        if fetch is not None:
            async with api.session(tenant_id) as reads:
                found[kind, tenant_id] = await fetch(reads, list(dict.fromkeys(ids)))
    loaded = [found.get((c.kind, c.tenant_id), {}).get(c.id) for c in changes]
    late = [
        i
        for i, (change, row) in enumerate(zip(changes, loaded, strict=True))
        if row is None or row.position < change.position
    ]
    for i, row in zip(
        late, await asyncio.gather(*(api.changed_rows.row(changes[i]) for i in late)), strict=True
    ):
        loaded[i] = row
    return loaded


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

    @subscription(
        "A process board's changes: the cases of a definition as they are opened, move, "
        "are approved, breach their SLA or close."
    )
    async def process_board_changed(
        self, info: Info, definition: str
    ) -> AsyncGenerator[ProcessChange, None]:
        async for change, row in changes(info, "process", lambda c: True):
            if row.definition_key == definition:
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

    @subscription(
        "Action runs as they are planned, sent, delivered, failed or cancelled; "
        "filter by run and/or process action."
    )
    async def action_run_changed(
        self, info: Info, id: UUID | None = None, process_action_id: UUID | None = None
    ) -> AsyncGenerator[ActionRunChange, None]:
        async for change, row in changes(info, "action_run", lambda c: id is None or c.id == id):
            if process_action_id is None or row.process_action_id == process_action_id:
                yield ActionRunChange(
                    position=change.position, event=change.type, run=ActionRun.of(row)
                )

    @subscription("An import job's progress: its check, each batch applied, and its end.")
    async def import_progress(self, info: Info, id: UUID) -> AsyncGenerator[Import, None]:
        async for _, row in changes(info, "import", lambda c: c.id == id):
            yield Import.of(row)

    @subscription(
        "A process's summary by the language model, streamed as it is written: built from "
        "its timeline as you read it, citing the events it rests on by position."
    )
    async def summarize_process(self, info: Info, id: UUID) -> AsyncGenerator[SummaryChunk, None]:
        async for chunk in summary_of_process(info, id):
            yield chunk

    @subscription(
        "An occurrence's summary by the language model, streamed: built from its data and "
        "its documents' text as you read them, citing them by position."
    )
    async def summarize_occurrence(
        self, info: Info, id: UUID
    ) -> AsyncGenerator[SummaryChunk, None]:
        async for chunk in summary_of_occurrence(info, id):
            yield chunk

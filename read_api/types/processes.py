"""Processes: tracked workflow cases, their stages, participants and linked entities."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from projections.participants.queries import PARTICIPANT
from projections.processes.queries import (
    PROCESS,
    ProcessFilter,
    ProcessReads,
    ProcessRow,
    StageVisit,
)
from projections.processes.timeline import TimelineEntry, TimelineReads
from read_api.past import past_process
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
from read_api.types.documents import Document, documents_of
from read_api.types.entities import Entity, entities_by_id
from read_api.types.participants import Participant
from read_api.types.workflows import (
    ProcessDefinitionVersion,
    StageSla,
    TransitionOption,
    pinned_version,
    stage_sla,
    transition_options,
)


@strawberry.type(description="One stage a process entered, oldest first in `stageHistory`.")
class StageEntry(StageVisit, RowType[StageVisit]):
    process_id: strawberry.Private[UUID]


@strawberry.type(
    description="One thing that happened to a process: a change (who, which command, which "
    "fields; for a stage, which and by which transition) or an action run it triggered."
)
class TimelineItem(TimelineEntry, RowType[TimelineEntry]):
    pass


@strawberry.type(description="A participant's role in a process.")
class ProcessParticipant:
    participant_id: UUID
    role: str

    @strawberry.field
    async def participant(self, info: Info) -> Participant | None:
        row = await info.context.loaders.of(PARTICIPANT).load(self.participant_id)
        return Participant.of(row) if row else None


@strawberry.type(description="A tracked workflow case.")
class Process(ProcessRow, RowType[ProcessRow]):
    data: dict[str, Any] = strawberry.field(graphql_type=JSON)
    # The row's participant id → role map; GraphQL's `participants` is what `roles` makes of it.
    participants: strawberry.Private[dict[str, str]]

    @field("Who takes part, with which role.", name="participants")
    def roles(self) -> list[ProcessParticipant]:
        return [
            ProcessParticipant(participant_id=UUID(p), role=r) for p, r in self.participants.items()
        ]

    @field("Linked entities (batched).")
    async def entities(self, info: Info) -> list[Entity]:
        return await entities_by_id(info, self.entity_ids)

    @field("Stages entered, oldest first (batched).")
    async def stage_history(self, info: Info) -> list[StageEntry]:
        return [
            StageEntry.of(v)
            for v in await info.context.loaders.lists(
                ProcessReads, ProcessReads.stage_history
            ).load(self.id)
        ]

    @strawberry.field
    async def documents(self, info: Info) -> list[Document]:
        return await documents_of(info, self.id)

    @field(
        "Everything that happened to it, oldest first: its changes with actor and time, the "
        "stages it entered (and by which transition), approvals, SLA timers, and — for a "
        "reader of automation — the action runs it triggered with their status."
    )
    async def timeline(self, info: Info) -> list[TimelineItem]:
        with_runs = info.context.require_viewer().grants.reads("automation")
        entries = await info.context.run(lambda r: r.of(TimelineReads).timeline(self, with_runs))
        return [TimelineItem.of(entry) for entry in entries]

    @field("The SLA of its current stage (null: the stage has none).")
    async def sla(self, info: Info) -> StageSla | None:
        return await stage_sla(info, self)

    @field("The version of its definition the process follows (null: free stages).")
    async def definition(self, info: Info) -> ProcessDefinitionVersion | None:
        return await pinned_version(info, self)

    @field(
        "The transitions leaving its stage (`all`: every transition), with whether you may "
        "take each now and, where not, every reason why (a false guard with its trace)."
    )
    async def available_transitions(self, info: Info, all: bool = False) -> list[TransitionOption]:
        return await transition_options(info, self, leaving_only=not all)


@strawberry.input(name="ProcessFilter")
class ProcessWhere(ProcessFilter, FilterInput[ProcessFilter]):
    pass


@strawberry.type
class ProcessQuery:
    @field(
        "One process by id. With `atPosition`, as it was at that position of the log, rebuilt "
        "from its events (null if it was not opened yet); what it refers to (participants, "
        "entities, documents) is read as it is now."
    )
    async def process(self, info: Info, id: UUID, at_position: int | None = None) -> Process | None:
        if at_position is not None:
            row = await past_process(info, id, at_position)
        else:
            row = await info.context.loaders.of(PROCESS).load(id)
        return Process.of(row) if row else None

    @field(
        "Processes, newest first, by kind, stage, status, participant, "
        "entity, due date and opening time."
    )
    async def processes(
        self,
        info: Info,
        filter: ProcessWhere | None = None,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> Connection[Process]:
        size = page_size(first)
        where = filter.to_filter() if filter else ProcessFilter()
        page = await info.context.run(lambda reads: reads.of(ProcessReads).page(where, size, after))
        return connection(page, Process.of)

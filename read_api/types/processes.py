"""Processes: tracked workflow cases, their stages, participants and linked entities."""

from __future__ import annotations

from datetime import datetime
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
from read_api.types.common import (
    DEFAULT_PAGE,
    Connection,
    Info,
    connection,
    field,
    page_size,
)
from read_api.types.documents import Document, documents_of
from read_api.types.entities import Entity, entities_by_id
from read_api.types.participants import Participant


@strawberry.type(description="One stage a process entered, oldest first in `stageHistory`.")
class StageEntry:
    stage: str
    previous: str | None
    entered_at: datetime
    position: int

    @staticmethod
    def of(visit: StageVisit) -> StageEntry:
        return StageEntry(
            stage=visit.stage,
            previous=visit.previous,
            entered_at=visit.entered_at,
            position=visit.position,
        )


@strawberry.type(description="A participant's role in a process.")
class ProcessParticipant:
    participant_id: UUID
    role: str

    @strawberry.field
    async def participant(self, info: Info) -> Participant | None:
        row = await info.context.loaders.of(PARTICIPANT).load(self.participant_id)
        return Participant.of(row) if row else None


@strawberry.type(description="A tracked workflow case.")
class Process:
    id: UUID
    kind: str
    title: str
    stages: list[str]
    stage: str
    status: str
    outcome: str | None
    due_at: datetime | None
    data: JSON
    entity_ids: list[UUID]
    version: int
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    position: int
    roles: strawberry.Private[dict[str, str]]

    @staticmethod
    def of(row: ProcessRow) -> Process:
        return Process(
            id=row.id,
            kind=row.kind,
            title=row.title,
            stages=row.stages,
            stage=row.stage,
            status=row.status,
            outcome=row.outcome,
            due_at=row.due_at,
            data=JSON(row.data),
            entity_ids=row.entity_ids,
            version=row.version,
            opened_at=row.opened_at,
            updated_at=row.updated_at,
            closed_at=row.closed_at,
            position=row.position,
            roles=row.participants,
        )

    @field("Who takes part, with which role.")
    def participants(self) -> list[ProcessParticipant]:
        return [ProcessParticipant(participant_id=UUID(p), role=r) for p, r in self.roles.items()]

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


@strawberry.input(name="ProcessFilter")
class ProcessWhere:
    kind: str | None = None
    stage: str | None = None
    status: str | None = None
    participant_id: UUID | None = None
    entity_id: UUID | None = None
    due_before: datetime | None = None
    opened_after: datetime | None = None
    opened_before: datetime | None = None

    def to_filter(self) -> ProcessFilter:
        return ProcessFilter(
            kind=self.kind,
            stage=self.stage,
            status=self.status,
            participant_id=self.participant_id,
            entity_id=self.entity_id,
            due_before=self.due_before,
            opened_after=self.opened_after,
            opened_before=self.opened_before,
        )


@strawberry.type
class ProcessQuery:
    @strawberry.field
    async def process(self, info: Info, id: UUID) -> Process | None:
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

"""Occurrences: real-world events (incidents, visits, payments), linked to what they concern."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from projections.occurrences.queries import (
    OCCURRENCE,
    OccurrenceFilter,
    OccurrenceReads,
    OccurrenceRow,
)
from projections.processes.queries import PROCESS
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
from read_api.types.participants import Participant, participants_by_id
from read_api.types.processes import Process


@strawberry.type(description="Something that happened in the organisation.")
class Occurrence:
    id: UUID
    kind: str
    occurred_at: datetime
    data: JSON
    lat: float | None
    lon: float | None
    process_id: UUID | None
    entity_ids: list[UUID]
    participant_ids: list[UUID]
    retracted: str | None = strawberry.field(description="Why it was retracted; null if it stands.")
    version: int
    recorded_at: datetime
    position: int

    @staticmethod
    def of(row: OccurrenceRow) -> Occurrence:
        return Occurrence(
            id=row.id,
            kind=row.kind,
            occurred_at=row.occurred_at,
            data=JSON(row.data),
            lat=row.lat,
            lon=row.lon,
            process_id=row.process_id,
            entity_ids=row.entity_ids,
            participant_ids=row.participant_ids,
            retracted=row.retracted,
            version=row.version,
            recorded_at=row.recorded_at,
            position=row.position,
        )

    @strawberry.field
    async def process(self, info: Info) -> Process | None:
        if self.process_id is None:
            return None
        row = await info.context.loaders.of(PROCESS).load(self.process_id)
        return Process.of(row) if row else None

    @strawberry.field
    async def entities(self, info: Info) -> list[Entity]:
        return await entities_by_id(info, self.entity_ids)

    @strawberry.field
    async def participants(self, info: Info) -> list[Participant]:
        return await participants_by_id(info, self.participant_ids)

    @strawberry.field
    async def documents(self, info: Info) -> list[Document]:
        return await documents_of(info, self.id)


@strawberry.input(name="OccurrenceFilter")
class OccurrenceWhere:
    kind: str | None = None
    process_id: UUID | None = None
    entity_id: UUID | None = None
    occurred_after: datetime | None = None
    occurred_before: datetime | None = None
    include_retracted: bool = False

    def to_filter(self) -> OccurrenceFilter:
        return OccurrenceFilter(
            kind=self.kind,
            process_id=self.process_id,
            entity_id=self.entity_id,
            occurred_after=self.occurred_after,
            occurred_before=self.occurred_before,
            include_retracted=self.include_retracted,
        )


@strawberry.type
class OccurrenceQuery:
    @strawberry.field
    async def occurrence(self, info: Info, id: UUID) -> Occurrence | None:
        row = await info.context.loaders.of(OCCURRENCE).load(id)
        return Occurrence.of(row) if row else None

    @field("Occurrences, most recent first, by kind, process, entity and time range.")
    async def occurrences(
        self,
        info: Info,
        filter: OccurrenceWhere | None = None,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
    ) -> Connection[Occurrence]:
        size = page_size(first)
        where = filter.to_filter() if filter else OccurrenceFilter()
        page = await info.context.run(
            lambda reads: reads.of(OccurrenceReads).page(where, size, after)
        )
        return connection(page, Occurrence.of)

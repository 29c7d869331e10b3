"""Occurrences: real-world events (incidents, visits, payments), linked to what they concern."""

from __future__ import annotations

from typing import Any
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
    FilterInput,
    Info,
    RowType,
    connection,
    field,
    page_size,
)
from read_api.types.documents import Document, documents_of
from read_api.types.entities import Entity, entities_by_id
from read_api.types.participants import Participant, participants_by_id
from read_api.types.processes import Process


@strawberry.type(description="Something that happened in the organisation.")
class Occurrence(OccurrenceRow, RowType[OccurrenceRow]):
    data: dict[str, Any] = strawberry.field(graphql_type=JSON)
    retracted: str | None = strawberry.field(description="Why it was retracted; null if it stands.")

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
class OccurrenceWhere(OccurrenceFilter, FilterInput[OccurrenceFilter]):
    pass


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

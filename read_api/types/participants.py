"""Participants: the people and systems that take part in processes."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import strawberry

from projections.participants.queries import PARTICIPANT, ParticipantReads, ParticipantRow
from read_api.types.common import (
    DEFAULT_PAGE,
    Connection,
    Info,
    connection,
    field,
    page_size,
)

if TYPE_CHECKING:
    from read_api.types.groups import Group


@strawberry.type(description="A person or system that takes part in processes.")
class Participant:
    id: UUID
    kind: str
    name: str
    email: str | None
    phone: str | None
    external_ref: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    position: int

    @staticmethod
    def of(row: ParticipantRow) -> Participant:
        return Participant(
            id=row.id,
            kind=row.kind,
            name=row.name,
            email=row.email,
            phone=row.phone,
            external_ref=row.external_ref,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
            position=row.position,
        )

    @strawberry.field
    async def groups(
        self, info: Info
    ) -> list[Annotated[Group, strawberry.lazy("read_api.types.groups")]]:
        from read_api.types.groups import groups_of

        return await groups_of(info, self.id)


async def participants_by_id(info: Info, ids: list[UUID]) -> list[Participant]:
    loaders = info.context.loaders
    return [Participant.of(row) for row in await loaders.many(loaders.of(PARTICIPANT), ids)]


@strawberry.type
class ParticipantQuery:
    @strawberry.field
    async def participant(self, info: Info, id: UUID) -> Participant | None:
        row = await info.context.loaders.of(PARTICIPANT).load(id)
        return Participant.of(row) if row else None

    @field("Participants, newest first, by kind and group.")
    async def participants(
        self,
        info: Info,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        kind: str | None = None,
        group_id: UUID | None = None,
    ) -> Connection[Participant]:
        size = page_size(first)
        page = await info.context.run(
            lambda reads: reads.of(ParticipantReads).page(size, after, kind=kind, group_id=group_id)
        )
        return connection(page, Participant.of)

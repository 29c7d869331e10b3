"""Participants: the people and systems that take part in processes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import strawberry

from projections.participants.queries import PARTICIPANT, ParticipantReads, ParticipantRow
from read_api.past import past_participant
from read_api.types.common import (
    DEFAULT_PAGE,
    Connection,
    Info,
    RowType,
    connection,
    field,
    page_size,
)

if TYPE_CHECKING:
    from read_api.types.groups import Group


@strawberry.type(description="A person or system that takes part in processes.")
class Participant(ParticipantRow, RowType[ParticipantRow]):
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
    @field(
        "One participant by id. With `atPosition`, as it was at that position of the log, "
        "rebuilt from its events (null if it did not exist yet; erased if it has been "
        "forgotten since: its key is gone for every past state too)."
    )
    async def participant(
        self, info: Info, id: UUID, at_position: int | None = None
    ) -> Participant | None:
        if at_position is not None:
            row = await past_participant(info, id, at_position)
        else:
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

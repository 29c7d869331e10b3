"""Groups: named sets of entities and participants."""

from __future__ import annotations

from uuid import UUID

import strawberry

from projections.groups.queries import GROUP, GroupReads, GroupRow
from read_api.types.common import (
    DEFAULT_PAGE,
    Connection,
    Info,
    RowType,
    connection,
    field,
    page_size,
)
from read_api.types.entities import Entity, entities_by_id
from read_api.types.participants import Participant, participants_by_id


@strawberry.type(description="A named set of entities and participants.")
class Group(GroupRow, RowType[GroupRow]):
    @field("Member entities (batched).")
    async def entities(self, info: Info) -> list[Entity]:
        return await entities_by_id(info, self.entity_ids)

    @field("Member participants (batched).")
    async def participants(self, info: Info) -> list[Participant]:
        return await participants_by_id(info, self.participant_ids)


async def groups_of(info: Info, member_id: UUID) -> list[Group]:
    """The groups an entity or participant belongs to: two batched queries for any list."""
    loaders = info.context.loaders
    group_ids = await loaders.lists(GroupReads, GroupReads.groups_of).load(member_id)
    return [Group.of(row) for row in await loaders.many(loaders.of(GROUP), group_ids)]


@strawberry.type
class GroupQuery:
    @strawberry.field
    async def group(self, info: Info, id: UUID) -> Group | None:
        row = await info.context.loaders.of(GROUP).load(id)
        return Group.of(row) if row else None

    @field("Groups, newest first; `namePrefix` ignores case.")
    async def groups(
        self,
        info: Info,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        name_prefix: str | None = None,
    ) -> Connection[Group]:
        size = page_size(first)
        page = await info.context.run(
            lambda reads: reads.of(GroupReads).page(size, after, name_prefix=name_prefix)
        )
        return connection(page, Group.of)

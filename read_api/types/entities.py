"""Entities and entity types."""

from __future__ import annotations

from dataclasses import replace
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import strawberry
from strawberry.scalars import JSON

from projections.entities.queries import (
    ENTITY,
    ENTITY_JSON,
    EntityFilter,
    EntityOrder,
    EntityReads,
    EntityRow,
    EntityTypeRow,
)
from read_api.fast_lists import connection_of
from read_api.past import past_entity
from read_api.types.common import (
    DEFAULT_PAGE,
    Connection,
    FilterInput,
    Info,
    RowType,
    field,
    json_object,
    page_size,
)
from read_api.types.documents import Document, documents_of

if TYPE_CHECKING:
    from read_api.types.groups import Group


@strawberry.type(description="A tenant-defined kind of entity, with its typed fields.")
class EntityType(EntityTypeRow, RowType[EntityTypeRow]):
    fields: list[dict[str, Any]] = strawberry.field(graphql_type=JSON)
    location_field: str | None = strawberry.field(
        default=None,
        description="The geo_point field that is its entities' location (lat/lon), if any.",
    )


@strawberry.type(description="An instance of an entity type; `data` holds its field values.")
class Entity(EntityRow, RowType[EntityRow]):
    data: dict[str, Any] = strawberry.field(graphql_type=JSON)

    @strawberry.field
    async def entity_type(self, info: Info) -> EntityType | None:
        row = await info.context.loaders.entity_type.load(self.entity_type_id)
        return EntityType.of(row) if row else None

    @strawberry.field
    async def documents(self, info: Info) -> list[Document]:
        return await documents_of(info, self.id)

    @strawberry.field
    async def groups(
        self, info: Info
    ) -> list[Annotated[Group, strawberry.lazy("read_api.types.groups")]]:
        from read_api.types.groups import groups_of

        return await groups_of(info, self.id)


@strawberry.enum(name="EntityOrder", description="How to sort entities.")
class EntityOrderBy(Enum):
    NEWEST = EntityOrder.NEWEST.value
    OLDEST = EntityOrder.OLDEST.value
    RECENTLY_UPDATED = EntityOrder.RECENTLY_UPDATED.value
    TITLE = EntityOrder.TITLE.value
    IMPORTANCE = EntityOrder.IMPORTANCE.value


@strawberry.input(name="EntityFilter")
class EntityWhere(EntityFilter, FilterInput[EntityFilter]):
    data: dict[str, Any] | None = strawberry.field(
        default=None,
        graphql_type=JSON | None,
        description='Field values that must match exactly, e.g. {"city": "Lisbon"}.',
    )

    def checked(self, where: EntityFilter) -> EntityFilter:
        return replace(where, data=json_object(where.data, "data"))


async def entities_by_id(info: Info, ids: list[UUID]) -> list[Entity]:
    return [
        Entity.of(row)
        for row in await info.context.loaders.many(info.context.loaders.of(ENTITY), ids)
    ]


@strawberry.type
class EntityQuery:
    @field(
        "One entity by id (archived ones too, flagged). With `atPosition`, as it was at that "
        "position of the log, rebuilt from its events (null if it did not exist yet); what it "
        "refers to (its type, groups, documents) is read as it is now."
    )
    async def entity(self, info: Info, id: UUID, at_position: int | None = None) -> Entity | None:
        if at_position is not None:
            row = await past_entity(info, id, at_position)
        else:
            row = await info.context.loaders.of(ENTITY).load(id)
        return Entity.of(row) if row else None

    @field(
        "Entities (newest first unless `order` says otherwise), filtered by type, field "
        "values, creation time and group."
    )
    async def entities(
        self,
        info: Info,
        filter: EntityWhere | None = None,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        order: EntityOrderBy = EntityOrderBy.NEWEST,
    ) -> Connection[Entity]:
        size = page_size(first)
        where = filter.to_filter() if filter else EntityFilter()
        sort = EntityOrder(order.value)
        return await connection_of(
            info,
            ENTITY_JSON,
            lambda reads, fields, cursors: reads.of(EntityReads).page_json(
                where, fields, size, after, sort, with_cursors=cursors
            ),
            lambda reads: reads.of(EntityReads).page(where, size, after, sort),
            Entity.of,
        )

    @field("The tenant's entity types, by name.")
    async def entity_types(self, info: Info) -> list[EntityType]:
        return [EntityType.of(row) for row in await info.context.loaders.entity_types()]

    @strawberry.field
    async def entity_type(self, info: Info, id: UUID) -> EntityType | None:
        row = await info.context.loaders.entity_type.load(id)
        return EntityType.of(row) if row else None

"""Entities and entity types."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, cast
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
from read_api.fast_lists import plan_connection
from read_api.types.common import (
    DEFAULT_PAGE,
    Connection,
    Info,
    connection,
    field,
    json_object,
    page_size,
)
from read_api.types.documents import Document, documents_of

if TYPE_CHECKING:
    from read_api.types.groups import Group


@strawberry.type(description="A tenant-defined kind of entity, with its typed fields.")
class EntityType:
    id: UUID
    name: str
    description: str
    fields: JSON
    search_importance: str | None
    location_field: str | None = strawberry.field(
        description="The geo_point field that is its entities' location (lat/lon), if any."
    )
    title_field: str | None
    schema_version: int
    retired: bool
    version: int
    created_at: datetime
    updated_at: datetime
    position: int

    @staticmethod
    def of(row: EntityTypeRow) -> EntityType:
        return EntityType(
            id=row.id,
            name=row.name,
            description=row.description,
            fields=JSON(row.fields),
            search_importance=row.search_importance,
            location_field=row.location_field,
            title_field=row.title_field,
            schema_version=row.schema_version,
            retired=row.retired,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
            position=row.position,
        )


@strawberry.type(description="An instance of an entity type; `data` holds its field values.")
class Entity:
    id: UUID
    entity_type_id: UUID
    version: int
    schema_version: int
    title: str | None
    importance: float | None
    data: JSON
    lat: float | None
    lon: float | None
    archived: bool
    created_at: datetime
    updated_at: datetime
    position: int

    @staticmethod
    def of(row: EntityRow) -> Entity:
        return Entity(
            id=row.id,
            entity_type_id=row.entity_type_id,
            version=row.version,
            schema_version=row.schema_version,
            title=row.title,
            importance=row.importance,
            data=JSON(row.data),
            lat=row.lat,
            lon=row.lon,
            archived=row.archived,
            created_at=row.created_at,
            updated_at=row.updated_at,
            position=row.position,
        )

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
class EntityWhere:
    entity_type_id: UUID | None = None
    data: JSON | None = strawberry.field(
        default=None, description='Field values that must match exactly, e.g. {"city": "Lisbon"}.'
    )
    created_after: datetime | None = None
    created_before: datetime | None = None
    group_id: UUID | None = None
    include_archived: bool = False

    def to_filter(self) -> EntityFilter:
        return EntityFilter(
            entity_type_id=self.entity_type_id,
            data_equals=json_object(self.data, "data"),
            created_after=self.created_after,
            created_before=self.created_before,
            group_id=self.group_id,
            include_archived=self.include_archived,
        )


async def entities_by_id(info: Info, ids: list[UUID]) -> list[Entity]:
    return [
        Entity.of(row)
        for row in await info.context.loaders.many(info.context.loaders.of(ENTITY), ids)
    ]


@strawberry.type
class EntityQuery:
    @field("One entity by id (archived ones too, flagged).")
    async def entity(self, info: Info, id: UUID) -> Entity | None:
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
        plan = plan_connection(info, ENTITY_JSON)
        if plan is not None:
            fields, cursors = plan.node_fields, plan.needs_cursors
            nodes = await info.context.run(
                lambda reads: reads.of(EntityReads).page_json(
                    where, fields, size, after, sort, with_cursors=cursors
                )
            )
            return cast("Connection[Entity]", plan.complete(nodes))
        page = await info.context.run(
            lambda reads: reads.of(EntityReads).page(where, size, after, sort)
        )
        return connection(page, Entity.of)

    @field("The tenant's entity types, by name.")
    async def entity_types(self, info: Info) -> list[EntityType]:
        return [EntityType.of(row) for row in await info.context.loaders.entity_types()]

    @strawberry.field
    async def entity_type(self, info: Info, id: UUID) -> EntityType | None:
        row = await info.context.loaders.entity_type.load(id)
        return EntityType.of(row) if row else None

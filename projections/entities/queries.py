"""Reading entities and entity types. The connection's transaction already carries the tenant
(row-level security), so no query here filters by tenant itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from domain.grants import ReadGrant
from projections.base import Feed, schema_of
from projections.groups.queries import IN_GROUP
from projections.paging import (
    Constant,
    Page,
    Sort,
    iso_timestamp,
    keyset_json_page,
    keyset_page,
    rows_by_ids,
)
from projections.scoped import ScopedReads
from projections.visibility import Area

SCHEMA = schema_of(__name__)
AREA = Area(
    "entities",
    f"entity_type_id IN (SELECT id FROM {SCHEMA}.entity_types WHERE lower(name) = ANY(%s))",  # noqa: S608
)


# Not frozen: the read API's GraphQL types subclass the dataclasses here, and strawberry's
# (plain) dataclasses cannot inherit from frozen ones.
@dataclass
class EntityRow:
    id: UUID
    entity_type_id: UUID
    version: int
    schema_version: int
    title: str | None
    importance: float | None
    data: dict[str, Any]
    lat: float | None
    lon: float | None
    archived: bool
    created_at: datetime
    updated_at: datetime
    position: int


@dataclass
class EntityTypeRow:
    id: UUID
    name: str
    description: str
    fields: list[dict[str, Any]]
    search_importance: str | None
    title_field: str | None
    schema_version: int
    retired: bool
    version: int
    created_at: datetime
    updated_at: datetime
    position: int
    location_field: str | None = None
    """The geo_point field whose value is the entity's location (lat/lon), if any."""


@dataclass
class EntityFilter:
    entity_type_id: UUID | None = None
    data: dict[str, Any] | None = None
    """Field values that must match exactly (JSONB containment, GIN-indexed)."""
    created_after: datetime | None = None
    created_before: datetime | None = None
    group_id: UUID | None = None
    include_archived: bool = False


class EntityOrder(StrEnum):
    NEWEST = "newest"
    OLDEST = "oldest"
    RECENTLY_UPDATED = "recently_updated"
    TITLE = "title"
    IMPORTANCE = "importance"


_LOWEST = -1.0e308  # stands for "no importance" so the keyset stays total
SORTS: dict[EntityOrder, Sort[EntityRow]] = {
    EntityOrder.NEWEST: Sort(
        "created_at", True, "timestamptz", lambda r: r.created_at.isoformat(), ("created_at",)
    ),
    EntityOrder.OLDEST: Sort(
        "created_at", False, "timestamptz", lambda r: r.created_at.isoformat(), ("created_at",)
    ),
    EntityOrder.RECENTLY_UPDATED: Sort(
        "updated_at", True, "timestamptz", lambda r: r.updated_at.isoformat(), ("updated_at",)
    ),
    EntityOrder.TITLE: Sort(
        "coalesce(lower(title), '')", False, "text", lambda r: (r.title or "").lower(), ("title",)
    ),
    EntityOrder.IMPORTANCE: Sort(
        f"coalesce(importance, {_LOWEST})",
        True,
        "float8",
        lambda r: _LOWEST if r.importance is None else r.importance,
        ("importance",),
    ),
}


ENTITY_COLUMNS = (
    "id, entity_type_id, version, schema_version, title, importance, data, lat, lon, archived, "
    "created_at, updated_at, position"
)
ENTITY_JSON: dict[str, str] = {
    column: iso_timestamp(column) if column in ("created_at", "updated_at") else column
    for column in ENTITY_COLUMNS.split(", ")
}
"""Each `EntityRow` attribute as a SQL value that PostgreSQL turns into the same JSON as the
attribute's value in Python (for `page_json`)."""
TYPE_COLUMNS = (
    "id, name, description, fields, search_importance, title_field, schema_version, retired, "
    "version, created_at, updated_at, position, location_field"
)


def _conditions(where: EntityFilter) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if not where.include_archived:
        clauses.append("NOT archived")
    if where.entity_type_id:
        clauses.append("entity_type_id = %s")
        params.append(where.entity_type_id)
    if where.data:
        clauses.append("data @> %s::jsonb")
        params.append(Jsonb(where.data))
    if where.created_after:
        clauses.append("created_at >= %s")
        params.append(where.created_after)
    if where.created_before:
        clauses.append("created_at < %s")
        params.append(where.created_before)
    if where.group_id:
        clauses.append(IN_GROUP)
        params.append(where.group_id)
    return clauses, params


class EntityReads(ScopedReads[EntityRow]):
    area = AREA
    table = f"{SCHEMA}.entities"
    columns = ENTITY_COLUMNS
    row = EntityRow

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        super().__init__(conn)
        self.types_named: frozenset[str] | None = None
        """The entity types it may see, by lower-case name (None: all)."""

    def restrict(self, grants: Sequence[ReadGrant], actor: str, claims: Mapping[str, Any]) -> None:
        super().restrict(grants, actor, claims)
        if grants and all(g.types for g in grants):
            self.types_named = frozenset(name.lower() for g in grants for name in g.types)
        else:
            self.types_named = None if grants else frozenset()

    async def shown_past(self, kind: str, id: UUID, state: dict[str, Any]) -> dict[str, Any] | None:
        """A past state of an entity or entity type as this reader may see it (None: not
        shown)."""
        if kind == "EntityType":
            named = self.types_named
            return state if named is None or str(state.get("name", "")).lower() in named else None
        return await super().shown_past(kind, id, state)

    async def count(self) -> dict[str, int]:
        """How many live entities, and entity types, this reader sees (as `counts` names them)."""
        clauses, params = self._where(EntityFilter())
        types = "NOT retired" + ("" if self.types_named is None else " AND lower(name) = ANY(%s)")
        async with self.conn.cursor() as cur:
            await cur.execute(
                f"SELECT (SELECT count(*) FROM {SCHEMA}.entities "  # noqa: S608
                f"WHERE {' AND '.join(clauses)}), "
                f"(SELECT count(*) FROM {SCHEMA}.entity_types WHERE {types})",
                [*params, *([] if self.types_named is None else [sorted(self.types_named)])],
            )
            entities, entity_types = await cur.fetchone() or (0, 0)
        return {"entities": int(entities), "entity_types": int(entity_types)}

    def _where(self, where: EntityFilter) -> tuple[list[str], list[Any]]:
        return self.shown_only(*_conditions(where))

    async def page(
        self,
        where: EntityFilter,
        first: int = 50,
        after: str | None = None,
        order: EntityOrder = EntityOrder.NEWEST,
    ) -> Page[EntityRow]:
        """Keyset pagination in the chosen order; the cursor is (sort key, id)."""
        return await keyset_page(
            self.conn,
            EntityRow,
            f"{SCHEMA}.entities",
            self.shown_columns,
            self._where(where),
            SORTS[order],
            first,
            after,
        )

    async def page_json(
        self,
        where: EntityFilter,
        fields: Sequence[tuple[str, str | Constant]],
        first: int = 50,
        after: str | None = None,
        order: EntityOrder = EntityOrder.NEWEST,
        *,
        with_cursors: bool = True,
    ) -> Page[str]:
        """`page`, each entity as JSON text built by PostgreSQL: `fields` are (key, an
        `EntityRow` attribute or a constant), in output order. Same rows, same cursors."""
        shown = ENTITY_JSON
        if self.scope is not None:
            shown = {**ENTITY_JSON, "data": self.scope.data_column()}
        values = [(key, shown[v] if isinstance(v, str) else v) for key, v in fields]
        return await keyset_json_page(
            self.conn,
            f"{SCHEMA}.entities",
            values,
            self._where(where),
            SORTS[order],
            first,
            after,
            with_cursors=with_cursors,
        )

    async def types(self) -> list[EntityTypeRow]:
        async with self.conn.cursor(row_factory=class_row(EntityTypeRow)) as cur:
            await cur.execute(f"SELECT {TYPE_COLUMNS} FROM {SCHEMA}.entity_types ORDER BY name")  # noqa: S608
            return self._shown_types(await cur.fetchall())

    async def types_by_ids(self, ids: list[UUID]) -> dict[UUID, EntityTypeRow]:
        table = f"{SCHEMA}.entity_types"
        found = await rows_by_ids(self.conn, EntityTypeRow, table, TYPE_COLUMNS, ids)
        return {row.id: row for row in self._shown_types(list(found.values()))}

    def _shown_types(self, rows: list[EntityTypeRow]) -> list[EntityTypeRow]:
        named = self.types_named
        return rows if named is None else [row for row in rows if row.name.lower() in named]


ENTITY = Feed("entity", EntityReads, EntityReads.by_ids, EntityRow, cached=True)


ENTITY_TYPE = Feed("entity_type", EntityReads, EntityReads.types_by_ids, EntityTypeRow)

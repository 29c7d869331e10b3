"""Reading entities and entity types. The connection's transaction already carries the tenant
(row-level security), so no query here filters by tenant itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from projections.paging import Page, clamp, decode_cursor, page_of

SCHEMA = "rm_entities"


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class EntityFilter:
    entity_type_id: UUID | None = None
    data_equals: dict[str, Any] | None = None
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


@dataclass(frozen=True)
class _Sort:
    expression: str
    descending: bool
    cast: str
    key: Callable[[EntityRow], Any]


_LOWEST = -1.0e308  # stands for "no importance" so the keyset stays total
SORTS: dict[EntityOrder, _Sort] = {
    EntityOrder.NEWEST: _Sort("created_at", True, "timestamptz", lambda r: r.created_at.isoformat()),
    EntityOrder.OLDEST: _Sort("created_at", False, "timestamptz", lambda r: r.created_at.isoformat()),
    EntityOrder.RECENTLY_UPDATED: _Sort(
        "updated_at", True, "timestamptz", lambda r: r.updated_at.isoformat()
    ),
    EntityOrder.TITLE: _Sort("coalesce(lower(title), '')", False, "text", lambda r: (r.title or "").lower()),
    EntityOrder.IMPORTANCE: _Sort(
        f"coalesce(importance, {_LOWEST})", True, "float8",
        lambda r: _LOWEST if r.importance is None else r.importance,
    ),
}  # fmt: skip


ENTITY_COLUMNS = (
    "id, entity_type_id, version, schema_version, title, importance, data, lat, lon, archived, "
    "created_at, updated_at, position"
)
TYPE_COLUMNS = (
    "id, name, description, fields, search_importance, title_field, schema_version, retired, "
    "version, created_at, updated_at, position"
)


class EntityReads:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    async def by_ids(self, ids: list[UUID]) -> dict[UUID, EntityRow]:
        async with self.conn.cursor(row_factory=class_row(EntityRow)) as cur:
            await cur.execute(
                f"SELECT {ENTITY_COLUMNS} FROM {SCHEMA}.entities WHERE id = ANY(%s)",  # noqa: S608
                (ids,),
            )
            return {row.id: row for row in await cur.fetchall()}

    async def page(
        self,
        where: EntityFilter,
        first: int = 50,
        after: str | None = None,
        order: EntityOrder = EntityOrder.NEWEST,
    ) -> Page[EntityRow]:
        """Keyset pagination in the chosen order; the cursor is (sort key, id)."""
        first = clamp(first)
        sort = SORTS[order]
        clauses: list[str] = ["true"]
        params: list[Any] = []
        if not where.include_archived:
            clauses.append("NOT archived")
        if where.entity_type_id:
            clauses.append("entity_type_id = %s")
            params.append(where.entity_type_id)
        if where.data_equals:
            clauses.append("data @> %s::jsonb")
            params.append(Jsonb(where.data_equals))
        if where.created_after:
            clauses.append("created_at >= %s")
            params.append(where.created_after)
        if where.created_before:
            clauses.append("created_at < %s")
            params.append(where.created_before)
        if where.group_id:
            clauses.append("id IN (SELECT member_id FROM rm_groups.members WHERE group_id = %s)")
            params.append(where.group_id)
        direction, after_op = ("DESC", "<") if sort.descending else ("ASC", ">")
        if after:
            key, last_id = decode_cursor(after)
            clauses.append(f"({sort.expression}, id) {after_op} (%s::{sort.cast}, %s::uuid)")
            params += [key, last_id]
        sql = (
            f"SELECT {ENTITY_COLUMNS} FROM {SCHEMA}.entities "  # noqa: S608
            f"WHERE {' AND '.join(clauses)} "
            f"ORDER BY {sort.expression} {direction}, id {direction} LIMIT %s"
        )
        async with self.conn.cursor(row_factory=class_row(EntityRow)) as cur:
            await cur.execute(sql, [*params, first + 1])
            rows = await cur.fetchall()
        return page_of(rows, first, lambda r: (sort.key(r), str(r.id)))

    async def types(self) -> list[EntityTypeRow]:
        async with self.conn.cursor(row_factory=class_row(EntityTypeRow)) as cur:
            await cur.execute(f"SELECT {TYPE_COLUMNS} FROM {SCHEMA}.entity_types ORDER BY name")  # noqa: S608
            return await cur.fetchall()

    async def types_by_ids(self, ids: list[UUID]) -> dict[UUID, EntityTypeRow]:
        async with self.conn.cursor(row_factory=class_row(EntityTypeRow)) as cur:
            await cur.execute(
                f"SELECT {TYPE_COLUMNS} FROM {SCHEMA}.entity_types WHERE id = ANY(%s)",  # noqa: S608
                (ids,),
            )
            return {row.id: row for row in await cur.fetchall()}

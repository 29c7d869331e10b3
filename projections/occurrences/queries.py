"""Reading occurrences. The connection's transaction already carries the tenant (row-level
security), so no query here filters by tenant itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from projections.paging import Page, clamp, decode_cursor, page_of

SCHEMA = "rm_occurrences"
COLUMNS = (
    "id, kind, occurred_at, data, lat, lon, process_id, entity_ids, participant_ids, retracted, "
    "version, recorded_at, position"
)


@dataclass(frozen=True)
class OccurrenceRow:
    id: UUID
    kind: str
    occurred_at: datetime
    data: dict[str, Any]
    lat: float | None
    lon: float | None
    process_id: UUID | None
    entity_ids: list[UUID]
    participant_ids: list[UUID]
    retracted: str | None
    """The reason it was retracted, or None while it stands."""
    version: int
    recorded_at: datetime
    position: int


@dataclass(frozen=True)
class OccurrenceFilter:
    kind: str | None = None
    process_id: UUID | None = None
    entity_id: UUID | None = None
    occurred_after: datetime | None = None
    occurred_before: datetime | None = None
    include_retracted: bool = False


def _clauses(where: OccurrenceFilter) -> tuple[list[str], list[Any]]:
    clauses: list[str] = ["true"]
    params: list[Any] = []
    if not where.include_retracted:
        clauses.append("retracted IS NULL")
    if where.kind:
        clauses.append("kind = %s")
        params.append(where.kind)
    if where.process_id:
        clauses.append("process_id = %s")
        params.append(where.process_id)
    if where.entity_id:
        clauses.append("entity_ids @> ARRAY[%s::uuid]")  # GIN-indexed containment
        params.append(where.entity_id)
    if where.occurred_after:
        clauses.append("occurred_at >= %s")
        params.append(where.occurred_after)
    if where.occurred_before:
        clauses.append("occurred_at < %s")
        params.append(where.occurred_before)
    return clauses, params


class OccurrenceReads:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    async def by_ids(self, ids: list[UUID]) -> dict[UUID, OccurrenceRow]:
        async with self.conn.cursor(row_factory=class_row(OccurrenceRow)) as cur:
            await cur.execute(
                f"SELECT {COLUMNS} FROM {SCHEMA}.occurrences WHERE id = ANY(%s)",  # noqa: S608
                (ids,),
            )
            return {row.id: row for row in await cur.fetchall()}

    async def page(
        self, where: OccurrenceFilter | None = None, first: int = 50, after: str | None = None
    ) -> Page[OccurrenceRow]:
        """Most recent occurred_at first; the cursor is (occurred_at, id)."""
        first = clamp(first)
        clauses, params = _clauses(where or OccurrenceFilter())
        if after:
            occurred, last_id = decode_cursor(after)
            clauses.append("(occurred_at, id) < (%s::timestamptz, %s::uuid)")
            params += [occurred, last_id]
        sql = (
            f"SELECT {COLUMNS} FROM {SCHEMA}.occurrences "  # noqa: S608
            f"WHERE {' AND '.join(clauses)} ORDER BY occurred_at DESC, id DESC LIMIT %s"
        )
        async with self.conn.cursor(row_factory=class_row(OccurrenceRow)) as cur:
            await cur.execute(sql, [*params, first + 1])
            rows = await cur.fetchall()
        return page_of(rows, first, lambda r: (r.occurred_at.isoformat(), str(r.id)))

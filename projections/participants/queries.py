"""Reading participants. The connection's transaction already carries the tenant (row-level
security), so no query here filters by tenant itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from projections.paging import Page, clamp, decode_cursor, page_of

SCHEMA = "rm_participants"
COLUMNS = "id, kind, name, email, phone, external_ref, version, created_at, updated_at, position"


@dataclass(frozen=True)
class ParticipantRow:
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


class ParticipantReads:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    async def by_ids(self, ids: list[UUID]) -> dict[UUID, ParticipantRow]:
        async with self.conn.cursor(row_factory=class_row(ParticipantRow)) as cur:
            await cur.execute(
                f"SELECT {COLUMNS} FROM {SCHEMA}.participants WHERE id = ANY(%s)",  # noqa: S608
                (ids,),
            )
            return {row.id: row for row in await cur.fetchall()}

    async def page(
        self,
        first: int = 50,
        after: str | None = None,
        kind: str | None = None,
        group_id: UUID | None = None,
    ) -> Page[ParticipantRow]:
        """Newest first; the cursor is (created_at, id)."""
        first = clamp(first)
        clauses: list[str] = ["true"]
        params: list[Any] = []
        if kind:
            clauses.append("kind = %s")
            params.append(kind)
        if group_id:
            clauses.append("id IN (SELECT member_id FROM rm_groups.members WHERE group_id = %s)")
            params.append(group_id)
        if after:
            created, last_id = decode_cursor(after)
            clauses.append("(created_at, id) < (%s::timestamptz, %s::uuid)")
            params += [created, last_id]
        sql = (
            f"SELECT {COLUMNS} FROM {SCHEMA}.participants "  # noqa: S608
            f"WHERE {' AND '.join(clauses)} ORDER BY created_at DESC, id DESC LIMIT %s"
        )
        async with self.conn.cursor(row_factory=class_row(ParticipantRow)) as cur:
            await cur.execute(sql, [*params, first + 1])
            rows = await cur.fetchall()
        return page_of(rows, first, lambda r: (r.created_at.isoformat(), str(r.id)))

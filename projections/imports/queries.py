"""Reading import jobs. The connection's transaction carries the tenant (row-level security);
`unfinished` is the import runner's, across tenants, on a connection of its own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from projections.base import Feed, schema_of
from projections.paging import Page, keyset_page, newest_first

SCHEMA = schema_of(__name__)
COLUMNS = (
    "id, source, filename, file_format, size, sha256, entity_type_id, sheet, mapping, key_field, "
    "auto_start, actor, status, sheets, rows, valid, done, failed, created, updated, "
    "first_errors, refusal, started_at, finished_at, version, created_at, updated_at, position"
)
UNFINISHED = ("received", "checked", "applying")
"""Statuses the runner has work in (a checked job only when it starts by itself)."""


@dataclass
class ImportRow:
    id: UUID
    source: str
    filename: str
    file_format: str
    size: int
    sha256: str
    entity_type_id: UUID
    sheet: str | None
    mapping: dict[str, str]
    key_field: str | None
    auto_start: bool
    actor: str
    status: str
    sheets: list[dict[str, Any]]
    rows: int
    valid: int
    done: int
    failed: int
    created: int
    updated: int
    first_errors: list[dict[str, Any]]
    refusal: str | None
    started_at: datetime | None
    finished_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime
    position: int


class ImportReads:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    async def by_ids(self, ids: list[UUID]) -> dict[UUID, ImportRow]:
        async with self.conn.cursor(row_factory=class_row(ImportRow)) as cur:
            await cur.execute(
                f"SELECT {COLUMNS} FROM {SCHEMA}.imports WHERE id = ANY(%s)",  # noqa: S608
                (ids,),
            )
            return {row.id: row for row in await cur.fetchall()}

    async def page(
        self, first: int = 50, after: str | None = None, status: str | None = None
    ) -> Page[ImportRow]:
        """Import jobs, newest first; the cursor is (created_at, id)."""
        clauses: list[str] = []
        params: list[Any] = []
        if status:
            clauses.append("status = %s")
            params.append(status)
        return await keyset_page(
            self.conn,
            ImportRow,
            f"{SCHEMA}.imports",
            COLUMNS,
            (clauses, params),
            newest_first("created_at"),
            first,
            after,
        )


def unfinished(conn: psycopg.Connection[Any]) -> list[tuple[UUID, UUID]]:
    """(tenant, job) of every job the runner may have work in, oldest first."""
    return [
        (row[0], row[1])
        for row in conn.execute(
            f"SELECT tenant_id, id FROM {SCHEMA}.imports "  # noqa: S608
            "WHERE status = ANY(%s) AND (status <> 'checked' OR auto_start) ORDER BY created_at",
            (list(UNFINISHED),),
        ).fetchall()
    ]


def rows_since(conn: psycopg.Connection[Any], tenant_id: UUID, since: datetime) -> int:
    """Rows the tenant's jobs started since `since` hold (applied or still to apply)."""
    row = conn.execute(
        f"SELECT coalesce(sum(rows), 0) FROM {SCHEMA}.imports "  # noqa: S608
        "WHERE tenant_id = %s AND started_at >= %s",
        (tenant_id, since),
    ).fetchone()
    return int(row[0]) if row else 0


IMPORT = Feed("import", ImportReads, ImportReads.by_ids, ImportRow)

"""Reading document metadata. The connection's transaction already carries the tenant
(row-level security), so no query here filters by tenant itself.

Removed documents are history: `by_ids` still finds them (flagged), lists leave them out."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from projections.base import Feed, schema_of
from projections.paging import Page, keyset_page, newest_first, rows_by_ids

SCHEMA = schema_of(__name__)
COLUMNS = (
    "id, target_kind, target_id, title, filename, content_type, size, sha256, removed, version, "
    "created_at, updated_at, position"
)


# Not frozen: the read API's GraphQL types subclass the dataclasses here, and strawberry's
# (plain) dataclasses cannot inherit from frozen ones.
@dataclass
class DocumentRow:
    id: UUID
    target_kind: str
    target_id: UUID
    title: str
    filename: str
    content_type: str
    size: int
    sha256: str
    removed: bool
    version: int
    created_at: datetime
    updated_at: datetime
    position: int


class DocumentReads:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    async def by_ids(self, ids: list[UUID]) -> dict[UUID, DocumentRow]:
        return await rows_by_ids(self.conn, DocumentRow, f"{SCHEMA}.documents", COLUMNS, ids)

    async def for_targets(self, target_ids: list[UUID]) -> dict[UUID, list[DocumentRow]]:
        """Target id → its live documents, newest first (targets without any are absent)."""
        async with self.conn.cursor(row_factory=class_row(DocumentRow)) as cur:
            await cur.execute(
                f"SELECT {COLUMNS} FROM {SCHEMA}.documents "  # noqa: S608
                "WHERE target_id = ANY(%s) AND NOT removed "
                "ORDER BY target_id, created_at DESC, id DESC",
                (target_ids,),
            )
            found: dict[UUID, list[DocumentRow]] = defaultdict(list)
            for row in await cur.fetchall():
                found[row.target_id].append(row)
        return dict(found)

    async def page(
        self, first: int = 50, after: str | None = None, target_id: UUID | None = None
    ) -> Page[DocumentRow]:
        """Live documents, newest first; the cursor is (created_at, id)."""
        clauses: list[str] = ["NOT removed"]
        params: list[Any] = []
        if target_id:
            clauses.append("target_id = %s")
            params.append(target_id)
        return await keyset_page(
            self.conn,
            DocumentRow,
            f"{SCHEMA}.documents",
            COLUMNS,
            (clauses, params),
            newest_first("created_at"),
            first,
            after,
        )


DOCUMENT = Feed("document", DocumentReads, DocumentReads.by_ids, DocumentRow)

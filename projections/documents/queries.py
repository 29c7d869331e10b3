"""Reading document metadata. The connection's transaction already carries the tenant
(row-level security), so no query here filters by tenant itself.

Removed documents are history: `by_ids` still finds them (flagged), lists leave them out."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from projections.base import Feed, schema_of
from projections.paging import Page, keyset_page, newest_first
from projections.seen import Seen, only_seen

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


Sql = tuple[str, tuple[Any, ...]]


class DocumentReads:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn
        self.targets: Sql = ("true", ())
        """Which documents the reader may see, by the record they are attached to."""

    def only_targets(self, kinds: Sequence[str], seen: Mapping[str, Seen]) -> None:
        """From now on, only documents attached to a kind of record in `kinds`, and to a record
        of a kind in `seen` only if the reader sees it."""
        clause = "target_kind = ANY(%s)"
        params: list[Any] = [list(kinds)]
        for kind, shown in seen.items():
            among, ids = only_seen("target_id", shown)
            clause += f" AND (target_kind <> %s OR {among})"
            params.extend((kind, *ids))
        self.targets = (f"({clause})", tuple(params))

    def seen(self) -> Seen:
        """The documents this reader sees, for reads spanning kinds (search)."""
        targets, params = self.targets
        return Seen(f"SELECT id FROM {SCHEMA}.documents WHERE {targets}", params)  # noqa: S608

    async def by_ids(self, ids: list[UUID]) -> dict[UUID, DocumentRow]:
        targets, params = self.targets
        async with self.conn.cursor(row_factory=class_row(DocumentRow)) as cur:
            await cur.execute(
                f"SELECT {COLUMNS} FROM {SCHEMA}.documents "  # noqa: S608
                f"WHERE id = ANY(%s) AND {targets}",
                (ids, *params),
            )
            return {row.id: row for row in await cur.fetchall()}

    async def for_targets(self, target_ids: list[UUID]) -> dict[UUID, list[DocumentRow]]:
        """Target id → its live documents, newest first (targets without any are absent)."""
        targets, params = self.targets
        async with self.conn.cursor(row_factory=class_row(DocumentRow)) as cur:
            await cur.execute(
                f"SELECT {COLUMNS} FROM {SCHEMA}.documents "  # noqa: S608
                f"WHERE target_id = ANY(%s) AND NOT removed AND {targets} "
                "ORDER BY target_id, created_at DESC, id DESC",
                (target_ids, *params),
            )
            found: dict[UUID, list[DocumentRow]] = defaultdict(list)
            for row in await cur.fetchall():
                found[row.target_id].append(row)
        return dict(found)

    async def page(
        self, first: int = 50, after: str | None = None, target_id: UUID | None = None
    ) -> Page[DocumentRow]:
        """Live documents, newest first; the cursor is (created_at, id)."""
        targets, target_params = self.targets
        clauses: list[str] = ["NOT removed", targets]
        params: list[Any] = list(target_params)
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

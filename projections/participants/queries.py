"""Reading participants. The connection's transaction already carries the tenant (row-level
security), so no query here filters by tenant itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from projections.base import Feed, schema_of
from projections.groups.queries import IN_GROUP
from projections.paging import Page, keyset_page, newest_first, rows_by_ids

SCHEMA = schema_of(__name__)
COLUMNS = (
    "id, kind, name, email, phone, external_ref, erased, version, created_at, updated_at, position"
)


# Not frozen: the read API's GraphQL types subclass the dataclasses here, and strawberry's
# (plain) dataclasses cannot inherit from frozen ones.
@dataclass
class ParticipantRow:
    id: UUID
    kind: str
    name: str | None
    """Null once the participant was forgotten (`erased`), as are email and phone."""
    email: str | None
    phone: str | None
    external_ref: str | None
    erased: bool
    version: int
    created_at: datetime
    updated_at: datetime
    position: int


class ParticipantReads:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    async def by_ids(self, ids: list[UUID]) -> dict[UUID, ParticipantRow]:
        return await rows_by_ids(self.conn, ParticipantRow, f"{SCHEMA}.participants", COLUMNS, ids)

    async def page(
        self,
        first: int = 50,
        after: str | None = None,
        kind: str | None = None,
        group_id: UUID | None = None,
    ) -> Page[ParticipantRow]:
        """Newest first; the cursor is (created_at, id)."""
        clauses: list[str] = []
        params: list[Any] = []
        if kind:
            clauses.append("kind = %s")
            params.append(kind)
        if group_id:
            clauses.append(IN_GROUP)
            params.append(group_id)
        return await keyset_page(
            self.conn,
            ParticipantRow,
            f"{SCHEMA}.participants",
            COLUMNS,
            (clauses, params),
            newest_first("created_at"),
            first,
            after,
        )


PARTICIPANT = Feed("participant", ParticipantReads, ParticipantReads.by_ids, ParticipantRow)

"""Reading groups. The connection's transaction already carries the tenant (row-level
security), so no query here filters by tenant itself."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from projections.base import Feed, schema_of
from projections.paging import Page, keyset_page, newest_first, rows_by_ids

SCHEMA = schema_of(__name__)
IN_GROUP = f"id IN (SELECT member_id FROM {SCHEMA}.members WHERE group_id = %s)"  # noqa: S608
"""A filter clause of the read models whose rows are group members: in the given group."""
COLUMNS = (
    "id, name, description, entity_ids, participant_ids, version, created_at, updated_at, position"
)


# Not frozen: the read API's GraphQL types subclass the dataclasses here, and strawberry's
# (plain) dataclasses cannot inherit from frozen ones.
@dataclass
class GroupRow:
    id: UUID
    name: str
    description: str
    entity_ids: list[UUID]
    participant_ids: list[UUID]
    version: int
    created_at: datetime
    updated_at: datetime
    position: int


def like_prefix(prefix: str) -> str:
    """A LIKE pattern matching values that start with `prefix` taken literally."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped.lower()}%"


class GroupReads:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    async def by_ids(self, ids: list[UUID]) -> dict[UUID, GroupRow]:
        return await rows_by_ids(self.conn, GroupRow, f"{SCHEMA}.groups", COLUMNS, ids)

    async def page(
        self, first: int = 50, after: str | None = None, name_prefix: str | None = None
    ) -> Page[GroupRow]:
        """Newest first; the cursor is (created_at, id). The prefix ignores case."""
        clauses: list[str] = []
        params: list[Any] = []
        if name_prefix:
            clauses.append("lower(name) LIKE %s")
            params.append(like_prefix(name_prefix))
        return await keyset_page(
            self.conn,
            GroupRow,
            f"{SCHEMA}.groups",
            COLUMNS,
            (clauses, params),
            newest_first("created_at"),
            first,
            after,
        )

    async def groups_of(self, member_ids: list[UUID]) -> dict[UUID, list[UUID]]:
        """Member id → the ids of the groups it belongs to (members in no group are absent)."""
        async with self.conn.cursor() as cur:
            await cur.execute(
                f"SELECT member_id, group_id FROM {SCHEMA}.members "  # noqa: S608
                "WHERE member_id = ANY(%s) ORDER BY member_id, group_id",
                (member_ids,),
            )
            found: dict[UUID, list[UUID]] = defaultdict(list)
            for member_id, group_id in await cur.fetchall():
                found[member_id].append(group_id)
        return dict(found)


GROUP = Feed("group", GroupReads, GroupReads.by_ids, GroupRow)

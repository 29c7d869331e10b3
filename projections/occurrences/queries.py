"""Reading occurrences. The connection's transaction already carries the tenant (row-level
security), so no query here filters by tenant itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from domain.grants import ReadGrant
from projections.base import Feed, schema_of
from projections.paging import Page, keyset_page, newest_first, rows_by_ids
from projections.seen import Seen
from projections.visibility import Area, Scope, past_shown, scope_of

SCHEMA = schema_of(__name__)
AREA = Area(
    "occurrences",
    "lower(kind) = ANY(%s)",
    frozenset({"kind"}),
    # Containment on the uuid arrays: their GIN indexes serve it.
    sets={
        "participants": "participant_ids @> ARRAY[%s::uuid]",
        "entities": "entity_ids @> ARRAY[%s::uuid]",
    },
    ids=frozenset({"process_id", "participants", "entities"}),
)
"""A grant's `types` are occurrence kinds, matched in any case as their definitions are (an
occurrence kind's id is of its case-folded name)."""
COLUMNS = (
    "id, kind, occurred_at, data, lat, lon, process_id, entity_ids, participant_ids, retracted, "
    "version, recorded_at, position"
)


# Not frozen: the read API's GraphQL types subclass the dataclasses here, and strawberry's
# (plain) dataclasses cannot inherit from frozen ones.
@dataclass
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


@dataclass
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
        self.scope: Scope | None = None
        """What a reader with restricted grants sees (None: everything)."""

    def restrict(self, grants: Sequence[ReadGrant], actor: str, claims: Mapping[str, Any]) -> None:
        """From now on, read only what `grants` show (the reader's restricted read grants)."""
        self.scope = scope_of(AREA, grants, actor, claims)

    def seen(self) -> Seen | None:
        """What this reader sees of occurrences, for reads that follow them (search, geo,
        documents attached to them; None: all)."""
        return None if self.scope is None else self.scope.seen(f"{SCHEMA}.occurrences")

    async def shown_past(self, kind: str, id: UUID, state: dict[str, Any]) -> dict[str, Any] | None:
        """A past state of an occurrence as this reader may see it (None: not shown)."""
        return await past_shown(self.scope, self.by_ids, id, state)

    async def count(self) -> dict[str, int]:
        """How many standing occurrences this reader sees (as `counts` names them)."""
        shown = "true" if self.scope is None else self.scope.predicate
        async with self.conn.cursor() as cur:
            await cur.execute(
                f"SELECT count(*) FROM {SCHEMA}.occurrences "  # noqa: S608
                f"WHERE retracted IS NULL AND {shown}",
                () if self.scope is None else self.scope.params,
            )
            found = await cur.fetchone()
        return {"occurrences": int(found[0]) if found else 0}

    async def by_ids(self, ids: list[UUID]) -> dict[UUID, OccurrenceRow]:
        if self.scope is None:
            return await rows_by_ids(
                self.conn, OccurrenceRow, f"{SCHEMA}.occurrences", COLUMNS, ids
            )
        async with self.conn.cursor(row_factory=class_row(OccurrenceRow)) as cur:
            await cur.execute(
                f"SELECT {self.scope.columns(COLUMNS)} FROM {SCHEMA}.occurrences "  # noqa: S608
                f"WHERE id = ANY(%s) AND {self.scope.predicate}",
                (ids, *self.scope.params),
            )
            return {row.id: row for row in await cur.fetchall()}

    async def page(
        self, where: OccurrenceFilter | None = None, first: int = 50, after: str | None = None
    ) -> Page[OccurrenceRow]:
        """Most recent occurred_at first; the cursor is (occurred_at, id)."""
        clauses, params = _clauses(where or OccurrenceFilter())
        columns = COLUMNS
        if self.scope is not None:
            clauses.append(self.scope.predicate)
            params.extend(self.scope.params)
            columns = self.scope.columns(COLUMNS)
        return await keyset_page(
            self.conn,
            OccurrenceRow,
            f"{SCHEMA}.occurrences",
            columns,
            (clauses, params),
            newest_first("occurred_at"),
            first,
            after,
        )


OCCURRENCE = Feed("occurrence", OccurrenceReads, OccurrenceReads.by_ids, OccurrenceRow)

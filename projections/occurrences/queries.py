"""Reading occurrences. The connection's transaction already carries the tenant (row-level
security), so no query here filters by tenant itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from projections.base import Feed, schema_of
from projections.paging import Page, keyset_page, newest_first
from projections.scoped import ScopedReads
from projections.visibility import Area

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


class OccurrenceReads(ScopedReads[OccurrenceRow]):
    area = AREA
    table = f"{SCHEMA}.occurrences"
    columns = COLUMNS
    row = OccurrenceRow

    async def count(self) -> dict[str, int]:
        """How many standing occurrences this reader sees (as `counts` names them)."""
        (standing,) = await self.counted("count(*)", "retracted IS NULL")
        return {"occurrences": standing}

    async def page(
        self, where: OccurrenceFilter | None = None, first: int = 50, after: str | None = None
    ) -> Page[OccurrenceRow]:
        """Most recent occurred_at first; the cursor is (occurred_at, id)."""
        clauses, params = self.shown_only(*_clauses(where or OccurrenceFilter()))
        return await keyset_page(
            self.conn,
            OccurrenceRow,
            f"{SCHEMA}.occurrences",
            self.shown_columns,
            (clauses, params),
            newest_first("occurred_at"),
            first,
            after,
        )


OCCURRENCE = Feed("occurrence", OccurrenceReads, OccurrenceReads.by_ids, OccurrenceRow)

"""Reading processes and their stage history. The connection's transaction already carries the
tenant (row-level security), so no query here filters by tenant itself."""

from __future__ import annotations

from collections import defaultdict
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
from projections.seen import Seen, only_seen
from projections.visibility import Area, Scope, past_shown, scope_of

SCHEMA = schema_of(__name__)
AREA = Area(
    "processes",
    "lower(kind) = ANY(%s)",
    frozenset({"kind", "stage", "status", "title"}),
    # `?` on the jsonb object of id → role: its GIN index (jsonb_ops) serves it.
    sets={"participants": "participants ? %s"},
)
"""A grant's `types` are process kinds, matched as the automation's process kinds are: in any
case."""
COLUMNS = (
    "id, kind, title, stages, stage, status, outcome, due_at, data, participants, entity_ids, "
    "version, opened_at, updated_at, closed_at, position"
)


# Not frozen: the read API's GraphQL types subclass the dataclasses here, and strawberry's
# (plain) dataclasses cannot inherit from frozen ones.
@dataclass
class ProcessRow:
    id: UUID
    kind: str
    title: str
    stages: list[str]
    stage: str
    status: str
    outcome: str | None
    due_at: datetime | None
    data: dict[str, Any]
    participants: dict[str, str]
    """Participant id (as text) → role."""
    entity_ids: list[UUID]
    version: int
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    position: int


@dataclass
class StageVisit:
    process_id: UUID
    stage: str
    previous: str | None
    entered_at: datetime
    position: int


@dataclass
class ProcessFilter:
    kind: str | None = None
    stage: str | None = None
    status: str | None = None
    participant_id: UUID | None = None
    entity_id: UUID | None = None
    due_before: datetime | None = None
    opened_after: datetime | None = None
    opened_before: datetime | None = None


def _clauses(where: ProcessFilter) -> tuple[list[str], list[Any]]:
    clauses: list[str] = ["true"]
    params: list[Any] = []
    for column in ("kind", "stage", "status"):
        value = getattr(where, column)
        if value:
            clauses.append(f"{column} = %s")
            params.append(value)
    if where.participant_id:
        clauses.append("participants ? %s")  # GIN-indexed key lookup
        params.append(str(where.participant_id))
    if where.entity_id:
        clauses.append("entity_ids @> ARRAY[%s::uuid]")  # GIN-indexed containment
        params.append(where.entity_id)
    if where.due_before:
        clauses.append("due_at < %s")
        params.append(where.due_before)
    if where.opened_after:
        clauses.append("opened_at >= %s")
        params.append(where.opened_after)
    if where.opened_before:
        clauses.append("opened_at < %s")
        params.append(where.opened_before)
    return clauses, params


class ProcessReads:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn
        self.scope: Scope | None = None
        """What a reader with restricted grants sees (None: everything)."""

    def restrict(self, grants: Sequence[ReadGrant], actor: str, claims: Mapping[str, Any]) -> None:
        """From now on, read only what `grants` show (the reader's restricted read grants)."""
        self.scope = scope_of(AREA, grants, actor, claims)

    def seen(self) -> Seen | None:
        """What this reader sees of processes, for reads that follow them (None: all)."""
        return None if self.scope is None else self.scope.seen(f"{SCHEMA}.processes")

    async def shown_past(self, kind: str, id: UUID, state: dict[str, Any]) -> dict[str, Any] | None:
        """A past state of a process as this reader may see it (None: not shown)."""
        return await past_shown(self.scope, self.by_ids, id, state)

    async def count(self) -> dict[str, int]:
        """How many processes, and open ones, this reader sees (as `counts` names them)."""
        shown = "true" if self.scope is None else self.scope.predicate
        async with self.conn.cursor() as cur:
            await cur.execute(
                "SELECT count(*), count(*) FILTER (WHERE status = 'open') "  # noqa: S608
                f"FROM {SCHEMA}.processes WHERE {shown}",
                () if self.scope is None else self.scope.params,
            )
            every, open_ = await cur.fetchone() or (0, 0)
        return {"processes": int(every), "open_processes": int(open_)}

    async def by_ids(self, ids: list[UUID]) -> dict[UUID, ProcessRow]:
        if self.scope is None:
            return await rows_by_ids(self.conn, ProcessRow, f"{SCHEMA}.processes", COLUMNS, ids)
        async with self.conn.cursor(row_factory=class_row(ProcessRow)) as cur:
            await cur.execute(
                f"SELECT {self.scope.columns(COLUMNS)} FROM {SCHEMA}.processes "  # noqa: S608
                f"WHERE id = ANY(%s) AND {self.scope.predicate}",
                (ids, *self.scope.params),
            )
            return {row.id: row for row in await cur.fetchall()}

    async def page(
        self, where: ProcessFilter | None = None, first: int = 50, after: str | None = None
    ) -> Page[ProcessRow]:
        """Newest first; the cursor is (opened_at, id)."""
        clauses, params = _clauses(where or ProcessFilter())
        columns = COLUMNS
        if self.scope is not None:
            clauses.append(self.scope.predicate)
            params.extend(self.scope.params)
            columns = self.scope.columns(COLUMNS)
        return await keyset_page(
            self.conn,
            ProcessRow,
            f"{SCHEMA}.processes",
            columns,
            (clauses, params),
            newest_first("opened_at"),
            first,
            after,
        )

    async def stage_history(self, process_ids: list[UUID]) -> dict[UUID, list[StageVisit]]:
        """Process id → the stages it entered, oldest first (processes not found, or not
        shown to this reader, are absent)."""
        shown, params = "", ()
        if (seen := self.seen()) is not None:
            clause, params = only_seen("process_id", seen)
            shown = f" AND {clause}"
        async with self.conn.cursor(row_factory=class_row(StageVisit)) as cur:
            await cur.execute(
                f"SELECT process_id, stage, previous, entered_at, position "  # noqa: S608
                f"FROM {SCHEMA}.stage_history WHERE process_id = ANY(%s){shown} "
                "ORDER BY process_id, position",
                (process_ids, *params),
            )
            found: dict[UUID, list[StageVisit]] = defaultdict(list)
            for visit in await cur.fetchall():
                found[visit.process_id].append(visit)
        return dict(found)


PROCESS = Feed("process", ProcessReads, ProcessReads.by_ids, ProcessRow)

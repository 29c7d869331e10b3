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
from projections.paging import Page, keyset_page, newest_first
from projections.scoped import ScopedReads
from projections.seen import Seen, only_seen
from projections.visibility import Area

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
    "version, opened_at, updated_at, closed_at, position, definition_key, definition_version, "
    "approvals, stage_entered_at, sla_due_at, sla_breached"
)
DEFINITION_COLUMNS = (
    "id, key, name, description, versions, published_at, retired, version, created_at, "
    "updated_at, position"
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
    definition_key: str | None
    """The definition the case follows (None: free stages)…"""
    definition_version: int | None
    """…and the version it pins."""
    approvals: list[str]
    """Who approved the current stage, in order."""
    stage_entered_at: datetime
    sla_due_at: datetime | None
    """When the current stage's SLA is (or was) breached; None: the stage has none."""
    sla_breached: bool


@dataclass
class StageVisit:
    process_id: UUID
    stage: str
    previous: str | None
    transition: str | None
    """The definition's transition taken (None: a free stage, or an approval's, a
    rejection's or a migration's move)."""
    entered_at: datetime
    position: int


@dataclass
class ProcessDefinitionRow:
    id: UUID
    key: str
    name: str
    description: str
    versions: list[dict[str, Any]]
    """Every published version's spec, oldest (version 1) first."""
    published_at: list[str]
    retired: bool
    version: int
    created_at: datetime
    updated_at: datetime
    position: int


@dataclass
class Visit:
    process_id: UUID
    stage: str
    entered_at: datetime
    left_at: datetime | None


@dataclass(frozen=True)
class Board:
    counts: dict[str, tuple[int, int]]
    """Stage → (open cases, overdue ones)."""
    cases: dict[str, list[ProcessRow]]


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
    definition_key: str | None = None
    definition_version: int | None = None


def _clauses(where: ProcessFilter) -> tuple[list[str], list[Any]]:
    clauses: list[str] = ["true"]
    params: list[Any] = []
    for column in ("kind", "stage", "status", "definition_key", "definition_version"):
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


class ProcessReads(ScopedReads[ProcessRow]):
    area = AREA
    table = f"{SCHEMA}.processes"
    columns = COLUMNS
    row = ProcessRow

    async def count(self) -> dict[str, int]:
        """How many processes, and open ones, this reader sees (as `counts` names them)."""
        every, open_ = await self.counted("count(*), count(*) FILTER (WHERE status = 'open')")
        return {"processes": every, "open_processes": open_}

    async def page(
        self, where: ProcessFilter | None = None, first: int = 50, after: str | None = None
    ) -> Page[ProcessRow]:
        """Newest first; the cursor is (opened_at, id)."""
        clauses, params = self.shown_only(*_clauses(where or ProcessFilter()))
        return await keyset_page(
            self.conn,
            ProcessRow,
            f"{SCHEMA}.processes",
            self.shown_columns,
            (clauses, params),
            newest_first("opened_at"),
            first,
            after,
        )

    async def board(self, definition_key: str, first: int) -> Board:
        """A definition's open cases by stage: how many, how many overdue, and the `first` of
        each stage, overdue first (the earliest deadline first, then the longest waiting)."""
        clauses, params = self.shown_only(
            ["definition_key = %s", "status = 'open'"], [definition_key]
        )
        where = " AND ".join(clauses)
        async with self.conn.cursor() as cur:
            await cur.execute(
                f"SELECT stage, count(*), count(*) FILTER (WHERE sla_due_at < now()) "  # noqa: S608
                f"FROM {SCHEMA}.processes WHERE {where} GROUP BY stage",
                params,
            )
            counts = {stage: (int(n), int(late)) for stage, n, late in await cur.fetchall()}
        async with self.conn.cursor(row_factory=class_row(ProcessRow)) as cur:
            await cur.execute(
                f"SELECT {COLUMNS} FROM (SELECT {self.shown_columns}, row_number() OVER ("  # noqa: S608
                "PARTITION BY stage ORDER BY sla_due_at NULLS LAST, stage_entered_at, id) AS n "
                f"FROM {SCHEMA}.processes WHERE {where}) ranked WHERE n <= %s "
                "ORDER BY stage, n",
                [*params, first],
            )
            rows = await cur.fetchall()
        cases: dict[str, list[ProcessRow]] = defaultdict(list)
        for row in rows:
            cases[row.stage].append(row)
        return Board(counts, dict(cases))

    async def visits(
        self, definition_key: str, since: datetime | None, until: datetime | None, limit: int
    ) -> list[Visit]:
        """The stage visits of a definition's cases entered from `since` to `until`, each with
        when it ended (the next stage's entry, the closing; None: still going on)."""
        clauses, params = self.shown_only(["definition_key = %s"], [definition_key])
        window = ""
        if since is not None:
            window += " AND v.entered_at >= %s"
        if until is not None:
            window += " AND v.entered_at <= %s"
        async with self.conn.cursor(row_factory=class_row(Visit)) as cur:
            await cur.execute(
                "SELECT v.process_id, v.stage, v.entered_at, coalesce(v.left_at, c.closed_at) "  # noqa: S608
                "AS left_at FROM (SELECT h.process_id, h.stage, h.entered_at, lead(h.entered_at) "
                "OVER (PARTITION BY h.process_id ORDER BY h.position) AS left_at "
                f"FROM {SCHEMA}.stage_history h WHERE h.process_id IN (SELECT id FROM "
                f"{SCHEMA}.processes WHERE {' AND '.join(clauses)})) v "
                f"JOIN {SCHEMA}.processes c ON c.id = v.process_id WHERE true{window} "
                "ORDER BY v.entered_at LIMIT %s",
                [*params, *(t for t in (since, until) if t is not None), limit],
            )
            return await cur.fetchall()

    async def transitions_taken(
        self, definition_key: str, since: datetime | None, until: datetime | None, limit: int
    ) -> list[StageVisit]:
        """The moves by a transition of a definition's cases, from `since` to `until`."""
        clauses, params = self.shown_only(["definition_key = %s"], [definition_key])
        window = "".join(
            f" AND h.entered_at {op} %s" for op, t in ((">=", since), ("<=", until)) if t
        )
        async with self.conn.cursor(row_factory=class_row(StageVisit)) as cur:
            await cur.execute(
                "SELECT h.process_id, h.stage, h.previous, h.transition, h.entered_at, "  # noqa: S608
                f"h.position FROM {SCHEMA}.stage_history h WHERE h.transition IS NOT NULL "
                f"AND h.process_id IN (SELECT id FROM {SCHEMA}.processes "
                f"WHERE {' AND '.join(clauses)}){window} ORDER BY h.position LIMIT %s",
                [*params, *(t for t in (since, until) if t is not None), limit],
            )
            return await cur.fetchall()

    async def stage_history(self, process_ids: list[UUID]) -> dict[UUID, list[StageVisit]]:
        """Process id → the stages it entered, oldest first (processes not found, or not
        shown to this reader, are absent)."""
        shown, params = "", ()
        if (seen := self.seen()) is not None:
            clause, params = only_seen("process_id", seen)
            shown = f" AND {clause}"
        async with self.conn.cursor(row_factory=class_row(StageVisit)) as cur:
            await cur.execute(
                f"SELECT process_id, stage, previous, transition, entered_at, position "  # noqa: S608
                f"FROM {SCHEMA}.stage_history WHERE process_id = ANY(%s){shown} "
                "ORDER BY process_id, position",
                (process_ids, *params),
            )
            found: dict[UUID, list[StageVisit]] = defaultdict(list)
            for visit in await cur.fetchall():
                found[visit.process_id].append(visit)
        return dict(found)


PROCESS = Feed("process", ProcessReads, ProcessReads.by_ids, ProcessRow)


class ProcessDefinitionReads:
    """The tenant's process definitions: those of the process kinds the reader reads."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn
        self.kinds: list[str] | None = None
        """The keys (lower case) a reader of some process kinds only sees (None: all)."""

    def restrict(self, grants: Sequence[ReadGrant], actor: str, claims: Mapping[str, Any]) -> None:
        # A grant's row rule is about cases, not definitions: only its kinds narrow these.
        if all(grant.types for grant in grants):
            self.kinds = sorted({kind.lower() for grant in grants for kind in grant.types})

    def seen(self) -> Seen | None:
        """The definitions this reader sees, for reads spanning kinds."""
        if self.kinds is None:
            return None
        ids = f"SELECT id FROM {SCHEMA}.process_definitions WHERE lower(key) = ANY(%s)"  # noqa: S608
        return Seen(ids, (self.kinds,))

    async def _select(self, where: str, params: list[Any]) -> list[ProcessDefinitionRow]:
        if self.kinds is not None:
            where, params = f"({where}) AND lower(key) = ANY(%s)", [*params, self.kinds]
        async with self.conn.cursor(row_factory=class_row(ProcessDefinitionRow)) as cur:
            await cur.execute(
                f"SELECT {DEFINITION_COLUMNS} FROM {SCHEMA}.process_definitions "  # noqa: S608
                f"WHERE {where} ORDER BY key LIMIT 1000",
                params,
            )
            return await cur.fetchall()

    async def calendar(self) -> dict[str, Any]:
        """The tenant's timezone, working hours and holidays, as its settings name them."""
        async with self.conn.cursor() as cur:
            await cur.execute(
                f"SELECT timezone, working_hours, holidays FROM {SCHEMA}.tenant_calendars"  # noqa: S608
            )
            found = await cur.fetchone()
        if found is None:
            return {}
        return {"timezone": found[0], "working_hours": found[1], "holidays": found[2]}

    async def every(self, retired: bool = False) -> list[ProcessDefinitionRow]:
        """By key; retired ones only when asked for."""
        return await self._select("true" if retired else "NOT retired", [])

    async def by_keys(self, keys: list[str]) -> dict[str, ProcessDefinitionRow]:
        return {row.key: row for row in await self._select("key = ANY(%s)", [keys])}

    async def by_ids(self, ids: list[UUID]) -> dict[UUID, ProcessDefinitionRow]:
        return {row.id: row for row in await self._select("id = ANY(%s)", [ids])}


PROCESS_DEFINITION = Feed(
    "process_definition",
    ProcessDefinitionReads,
    ProcessDefinitionReads.by_ids,
    ProcessDefinitionRow,
)

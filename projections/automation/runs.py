"""Reading action runs and their attempt history (tenant from row-level security)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from projections.automation.queries import SCHEMA
from projections.base import Feed
from projections.paging import Page, equal_and_within, keyset_page, newest_first, rows_by_ids

RUN_COLUMNS = (
    "id, process_action_id, action_id, trigger_key, status, planned_at, due_at, attempts, "
    "last_error, provider_message_id, context, version, position, created_at, updated_at, "
    "finished_at"
)
ATTEMPT_COLUMNS = (
    "run_id, attempt, started_at, finished_at, outcome, error, detail, provider_message_id, "
    "next_attempt_at"
)


# Not frozen: the read API's GraphQL types subclass the dataclasses here, and strawberry's
# (plain) dataclasses cannot inherit from frozen ones.
@dataclass
class ActionRunRow:
    id: UUID
    process_action_id: UUID
    action_id: UUID
    trigger_key: str
    status: str
    """planned | sending | delivered | retrying | dead | cancelled (see domain.action_run)."""
    planned_at: datetime
    due_at: datetime
    """When it is (next) to be sent: planned_at, then each retry's time."""
    attempts: int
    last_error: str | None
    provider_message_id: str | None
    context: dict[str, Any]
    version: int
    position: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


@dataclass
class AttemptRow:
    run_id: UUID
    attempt: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    """sending (not finished yet) | delivered | failed."""
    error: str | None
    detail: str | None
    """The provider's answer to a delivered attempt."""
    provider_message_id: str | None
    next_attempt_at: datetime | None


@dataclass
class RunFilter:
    status: tuple[str, ...] | None = None
    """Any of these (None or none: any status)."""
    process_action_id: UUID | None = None
    action_id: UUID | None = None
    planned_after: datetime | None = None
    planned_before: datetime | None = None


def _clauses(where: RunFilter) -> tuple[list[str], list[Any]]:
    equal = {"process_action_id": where.process_action_id, "action_id": where.action_id}
    clauses, params = equal_and_within(
        equal, "planned_at", where.planned_after, where.planned_before
    )
    if where.status:
        clauses.append("status = ANY(%s)")
        params.append(list(where.status))
    return clauses, params


class RunReads:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    async def by_ids(self, ids: list[UUID]) -> dict[UUID, ActionRunRow]:
        table = f"{SCHEMA}.action_runs"
        return await rows_by_ids(self.conn, ActionRunRow, table, RUN_COLUMNS, ids)

    async def page(
        self, where: RunFilter | None = None, first: int = 50, after: str | None = None
    ) -> Page[ActionRunRow]:
        """Most recently planned first; the cursor is (planned_at, id)."""
        clauses, params = _clauses(where or RunFilter())
        return await keyset_page(
            self.conn,
            ActionRunRow,
            f"{SCHEMA}.action_runs",
            RUN_COLUMNS,
            (clauses, params),
            newest_first("planned_at"),
            first,
            after,
        )

    async def attempts(self, run_ids: list[UUID]) -> dict[UUID, list[AttemptRow]]:
        """Run id → its attempts, first attempt first (runs never started are absent)."""
        async with self.conn.cursor(row_factory=class_row(AttemptRow)) as cur:
            await cur.execute(
                f"SELECT {ATTEMPT_COLUMNS} FROM {SCHEMA}.action_run_attempts "  # noqa: S608
                "WHERE run_id = ANY(%s) ORDER BY run_id, attempt",
                (run_ids,),
            )
            found: dict[UUID, list[AttemptRow]] = defaultdict(list)
            for attempt in await cur.fetchall():
                found[attempt.run_id].append(attempt)
        return dict(found)


ACTION_RUN = Feed("action_run", RunReads, RunReads.by_ids, ActionRunRow)

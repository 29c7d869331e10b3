"""Reading occurrence kinds, the action catalog and process actions. The connection's
transaction already carries the tenant (row-level security), so no query here filters by
tenant itself. Catalogs are small per tenant, so they are plain lists, by name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from projections.base import Feed, schema_of
from projections.paging import rows_by_ids

SCHEMA = schema_of(__name__)
KIND_COLUMNS = "id, name, description, fields, version, position, created_at, updated_at"
ACTION_COLUMNS = (
    "id, name, channel, template, config, has_credentials, retry, retired, version, position, "
    "created_at, updated_at"
)
PROCESS_ACTION_COLUMNS = (
    "id, name, action_id, trigger, trigger_on, condition, schedule, catch_up, paused, "
    "recipients, steps, version, position, created_at, updated_at"
)
MAX_LIST = 1_000
"""A catalog longer than this is not a catalog; lists stop there rather than grow unbounded."""

T = TypeVar("T")


# Not frozen: the read API's GraphQL types subclass the dataclasses here, and strawberry's
# (plain) dataclasses cannot inherit from frozen ones.
@dataclass
class OccurrenceKindRow:
    id: UUID
    name: str
    description: str
    fields: list[dict[str, Any]]
    version: int
    position: int
    created_at: datetime
    updated_at: datetime


@dataclass
class ActionRow:
    """A catalog action as readers see it: whether it has credentials, never what they are."""

    id: UUID
    name: str
    channel: str
    template: dict[str, Any]
    config: dict[str, Any]
    has_credentials: bool
    retry: dict[str, Any]
    retired: bool
    version: int
    position: int
    created_at: datetime
    updated_at: datetime


@dataclass
class ProcessActionRow:
    id: UUID
    name: str
    action_id: UUID
    trigger: dict[str, Any]
    trigger_on: str
    condition: dict[str, Any] | None
    schedule: dict[str, Any]
    catch_up: dict[str, Any]
    paused: bool
    recipients: list[dict[str, str]]
    """Who its runs address (none: the addresses its action names)."""
    steps: list[dict[str, Any]]
    """Its follow-up and fallback steps."""
    version: int
    position: int
    created_at: datetime
    updated_at: datetime


@dataclass
class ProcessActionFilter:
    action_id: UUID | None = None
    trigger_on: str | None = None
    include_paused: bool = True


class AutomationReads:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    async def _rows(self, row_type: type[T], sql: str, params: list[Any]) -> list[T]:
        async with self.conn.cursor(row_factory=class_row(row_type)) as cur:
            await cur.execute(sql, [*params, MAX_LIST])
            return await cur.fetchall()

    async def occurrence_kinds(self) -> list[OccurrenceKindRow]:
        return await self._rows(
            OccurrenceKindRow,
            f"SELECT {KIND_COLUMNS} FROM {SCHEMA}.occurrence_kinds "  # noqa: S608
            "ORDER BY lower(name), id LIMIT %s",
            [],
        )

    async def occurrence_kinds_by_ids(self, ids: list[UUID]) -> dict[UUID, OccurrenceKindRow]:
        table = f"{SCHEMA}.occurrence_kinds"
        return await rows_by_ids(self.conn, OccurrenceKindRow, table, KIND_COLUMNS, ids)

    async def occurrence_kind_named(self, name: str) -> OccurrenceKindRow | None:
        """Names are unique per tenant whatever their case (the kind's id derives from it)."""
        found = await self._rows(
            OccurrenceKindRow,
            f"SELECT {KIND_COLUMNS} FROM {SCHEMA}.occurrence_kinds "  # noqa: S608
            "WHERE lower(name) = lower(%s) ORDER BY id LIMIT %s",
            [name.strip()],
        )
        return found[0] if found else None

    async def actions(self, include_retired: bool = False) -> list[ActionRow]:
        where = "true" if include_retired else "NOT retired"
        return await self._rows(
            ActionRow,
            f"SELECT {ACTION_COLUMNS} FROM {SCHEMA}.actions WHERE {where} "  # noqa: S608
            "ORDER BY lower(name), id LIMIT %s",
            [],
        )

    async def actions_by_ids(self, ids: list[UUID]) -> dict[UUID, ActionRow]:
        return await rows_by_ids(self.conn, ActionRow, f"{SCHEMA}.actions", ACTION_COLUMNS, ids)

    async def process_actions(
        self, where: ProcessActionFilter | None = None
    ) -> list[ProcessActionRow]:
        where = where or ProcessActionFilter()
        clauses: list[str] = ["true"]
        params: list[Any] = []
        if where.action_id is not None:
            clauses.append("action_id = %s")
            params.append(where.action_id)
        if where.trigger_on is not None:
            clauses.append("trigger_on = %s")
            params.append(where.trigger_on)
        if not where.include_paused:
            clauses.append("NOT paused")
        return await self._rows(
            ProcessActionRow,
            f"SELECT {PROCESS_ACTION_COLUMNS} FROM {SCHEMA}.process_actions "  # noqa: S608
            f"WHERE {' AND '.join(clauses)} ORDER BY lower(name), id LIMIT %s",
            params,
        )

    async def process_actions_by_ids(self, ids: list[UUID]) -> dict[UUID, ProcessActionRow]:
        table = f"{SCHEMA}.process_actions"
        return await rows_by_ids(self.conn, ProcessActionRow, table, PROCESS_ACTION_COLUMNS, ids)


ACTION = Feed("action", AutomationReads, AutomationReads.actions_by_ids, ActionRow)


PROCESS_ACTION = Feed(
    "process_action", AutomationReads, AutomationReads.process_actions_by_ids, ProcessActionRow
)


OCCURRENCE_KIND = Feed(
    "occurrence_kind", AutomationReads, AutomationReads.occurrence_kinds_by_ids, OccurrenceKindRow
)

"""Reading the audit trail (the transaction carries the tenant: row-level security)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from projections.base import schema_of
from projections.paging import (
    JsonFields,
    Page,
    Sort,
    equal_and_within,
    iso_timestamp,
    json_object,
    keyset_json_page,
    keyset_page,
)

SCHEMA = schema_of(__name__)
COLUMNS = (
    "id, position, aggregate_id, aggregate_type, event, version, at, actor, command, "
    "correlation_id, fields"
)
CHANGE_JSON: dict[str, str] = {
    column: iso_timestamp(column) if column == "at" else column for column in COLUMNS.split(", ")
}
"""Each `ChangeRow` attribute as SQL that PostgreSQL renders as the same JSON as the value."""
NEWEST = Sort[Any]("position", True, "bigint", lambda row: row.position, ("position",))


# Not frozen: the read API's GraphQL types subclass the dataclasses here, and strawberry's
# (plain) dataclasses cannot inherit from frozen ones.
@dataclass
class ChangeRow:
    id: UUID
    position: int
    aggregate_id: UUID
    aggregate_type: str
    event: str
    version: int
    at: datetime
    actor: str | None
    command: str | None
    correlation_id: str | None
    fields: list[str]


@dataclass
class AuditFilter:
    actor: str | None = None
    aggregate_id: UUID | None = None
    aggregate_type: str | None = None
    command: str | None = None
    correlation_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


EQUAL_COLUMNS = ("actor", "aggregate_id", "aggregate_type", "command", "correlation_id")


def _where(where: AuditFilter) -> tuple[list[str], list[Any]]:
    equal = {column: getattr(where, column) for column in EQUAL_COLUMNS}
    return equal_and_within(equal, "at", where.since, where.until)


class AuditReads:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    async def page(
        self, where: AuditFilter | None = None, first: int = 50, after: str | None = None
    ) -> Page[ChangeRow]:
        """Newest first; the cursor is (position, id)."""
        return await keyset_page(
            self.conn,
            ChangeRow,
            f"{SCHEMA}.changes",
            COLUMNS,
            _where(where or AuditFilter()),
            NEWEST,
            first,
            after,
        )

    async def page_json(
        self,
        where: AuditFilter,
        fields: JsonFields,
        first: int = 50,
        after: str | None = None,
        *,
        with_cursors: bool = True,
    ) -> Page[str]:
        """`page`, each change as JSON text built by PostgreSQL (`fields`: key → attribute)."""
        return await keyset_json_page(
            self.conn,
            f"{SCHEMA}.changes",
            _rendered(fields),
            _where(where),
            NEWEST,
            first,
            after,
            with_cursors=with_cursors,
        )

    async def history_json(self, aggregate_id: UUID, fields: JsonFields) -> list[str]:
        """`history`, each change as JSON text built by PostgreSQL."""
        node, values = json_object(_rendered(fields))
        async with self.conn.cursor() as cur:
            await cur.execute(
                f"SELECT {node} FROM {SCHEMA}.changes "  # noqa: S608
                "WHERE aggregate_id = %s ORDER BY position",
                (*values, aggregate_id),
            )
            return [row[0] for row in await cur.fetchall()]

    async def history(self, aggregate_id: UUID) -> list[ChangeRow]:
        """Every change of one record, oldest first."""
        async with self.conn.cursor(row_factory=class_row(ChangeRow)) as cur:
            await cur.execute(
                f"SELECT {COLUMNS} FROM {SCHEMA}.changes "  # noqa: S608
                "WHERE aggregate_id = %s ORDER BY position",
                (aggregate_id,),
            )
            return await cur.fetchall()


def _rendered(fields: JsonFields) -> JsonFields:
    return [(key, CHANGE_JSON[v] if isinstance(v, str) else v) for key, v in fields]

"""What the read models of the areas that grants may restrict (entities, processes,
occurrences) share: the reader's scope, what it shows to the reads that follow these records
(`seen`), past states (`shown_past`), records by id and counts under it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from domain.grants import ReadGrant
from projections.paging import Identified, rows_by_ids
from projections.seen import Seen
from projections.visibility import Area, Scope, past_shown, scope_of

R = TypeVar("R", bound=Identified)


class ScopedReads(Generic[R]):
    area: ClassVar[Area]
    table: ClassVar[str]
    """Its records' table, schema-qualified."""
    columns: ClassVar[str]
    row: type[R]

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn
        self.scope: Scope | None = None
        """What a reader with restricted grants sees (None: everything)."""

    def restrict(self, grants: Sequence[ReadGrant], actor: str, claims: Mapping[str, Any]) -> None:
        """From now on, read only what `grants` show (the reader's restricted read grants)."""
        self.scope = scope_of(self.area, grants, actor, claims)

    def seen(self) -> Seen | None:
        """What this reader sees of these records, for reads that follow them (search, geo,
        stage history, documents attached to them; None: all)."""
        return None if self.scope is None else self.scope.seen(self.table)

    async def shown_past(self, kind: str, id: UUID, state: dict[str, Any]) -> dict[str, Any] | None:
        """A past state of one of these records as this reader may see it (None: not shown)."""
        return await past_shown(self.scope, self.by_ids, id, state)

    def shown_only(self, clauses: list[str], params: list[Any]) -> tuple[list[str], list[Any]]:
        """A query's conditions with this reader's scope added."""
        if self.scope is not None:
            clauses.append(self.scope.predicate)
            params.extend(self.scope.params)
        return clauses, params

    @property
    def shown_columns(self) -> str:
        """The select list with `data` as this reader sees it."""
        return self.columns if self.scope is None else self.scope.columns(self.columns)

    async def by_ids(self, ids: list[UUID]) -> dict[UUID, R]:
        if self.scope is None:
            return await rows_by_ids(self.conn, self.row, self.table, self.columns, ids)
        async with self.conn.cursor(row_factory=class_row(self.row)) as cur:
            await cur.execute(
                f"SELECT {self.shown_columns} FROM {self.table} "  # noqa: S608
                f"WHERE id = ANY(%s) AND {self.scope.predicate}",
                (ids, *self.scope.params),
            )
            return {row.id: row for row in await cur.fetchall()}

    async def counted(self, counts: str, live: str = "true") -> tuple[int, ...]:
        """`counts` (a select list of aggregates) over the `live` records this reader sees."""
        shown = "true" if self.scope is None else self.scope.predicate
        async with self.conn.cursor() as cur:
            await cur.execute(
                f"SELECT {counts} FROM {self.table} WHERE {live} AND {shown}",  # noqa: S608
                () if self.scope is None else self.scope.params,
            )
            found = await cur.fetchone()
        return tuple(int(n) for n in found) if found else ()

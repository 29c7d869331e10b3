"""Keyset (cursor) pagination shared by every read model: stable under inserts, O(page) cost."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar
from uuid import UUID

import orjson
import psycopg
from psycopg.rows import class_row, namedtuple_row

T = TypeVar("T")
MAX_PAGE = 200


class BadCursorError(ValueError):
    pass


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    has_next: bool
    end_cursor: str | None
    total: int | None = None
    cursors: list[str] = field(default_factory=list)
    """One cursor per item (resuming right after it), in the query's own keyset format."""


def encode_cursor(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(key), default=str)).decode()


def decode_cursor(cursor: str) -> list[Any]:
    try:
        key = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise BadCursorError("not a cursor from this API") from exc
    if not isinstance(key, list):
        raise BadCursorError("not a cursor from this API")
    return key


def equal_and_within(
    equal: Mapping[str, Any], column: str, since: Any, until: Any
) -> tuple[list[str], list[Any]]:
    """Filter clauses and parameters: each column of `equal` equal to its value, and `column`
    at or after `since` and before `until`; None leaves a condition out."""
    clauses: list[str] = []
    params: list[Any] = []
    for name, value in equal.items():
        if value is not None:
            clauses.append(f"{name} = %s")
            params.append(value)
    for value, test in ((since, ">="), (until, "<")):
        if value is not None:
            clauses.append(f"{column} {test} %s")
            params.append(value)
    return clauses, params


def clamp(first: int) -> int:
    if first < 1:
        raise ValueError("first must be at least 1")
    return min(first, MAX_PAGE)


def page_of(rows: list[T], first: int, key_of: Any) -> Page[T]:
    """`rows` were fetched with LIMIT first + 1: the extra row only says there is more."""
    has_next = len(rows) > first
    items = rows[:first]
    cursors = [encode_cursor(key_of(item)) for item in items]
    return Page(items, has_next, cursors[-1] if cursors else None, cursors=cursors)


class Identified(Protocol):
    @property
    def id(self) -> UUID: ...


R = TypeVar("R", bound=Identified)


@dataclass(frozen=True)
class Sort(Generic[R]):
    """An order for keyset pagination: the SQL sort expression and the same key per row."""

    expression: str
    descending: bool
    cast: str
    key: Callable[[R], Any]
    columns: tuple[str, ...] = ()
    """The row attributes `key` reads: enough to make cursors without loading whole rows
    (`keyset_json_page`); empty means unknown."""


def newest_first(column: str) -> Sort[Any]:
    """The usual order: a timestamp column, most recent first."""
    return Sort(
        column, True, "timestamptz", lambda row: getattr(row, column).isoformat(), (column,)
    )


def iso_timestamp(column: str) -> str:
    """SQL rendering a timestamptz exactly as Python's `datetime.isoformat()` does for the
    value psycopg returns (session time zone, microseconds only when not zero), so JSON built
    by PostgreSQL matches JSON built from the row in Python."""
    return (
        f"to_char({column}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN "
        f"mod(date_part('microseconds', {column})::bigint, 1000000) = 0 THEN '' "
        f"ELSE to_char({column}, '.US') END || to_char({column}, 'TZH:TZM')"
    )


async def rows_by_ids(
    conn: psycopg.AsyncConnection[Any], row_type: type[R], table: str, columns: str, ids: list[UUID]
) -> dict[UUID, R]:
    async with conn.cursor(row_factory=class_row(row_type)) as cur:
        await cur.execute(f"SELECT {columns} FROM {table} WHERE id = ANY(%s)", (ids,))  # noqa: S608
        return {row.id: row for row in await cur.fetchall()}


def _keyset_query(
    select: str,
    table: str,
    where: tuple[list[str], list[Any]],
    sort: Sort[Any],
    first: int,
    after: str | None,
) -> tuple[str, list[Any]]:
    """`SELECT select FROM table` for one keyset page: rows matching `where` (SQL clauses,
    parameters) in `sort` order after the cursor `after`, one row more than `first`."""
    clauses, params = ["true", *where[0]], list(where[1])
    direction, beyond = ("DESC", "<") if sort.descending else ("ASC", ">")
    if after:
        key, last_id = _keyset_cursor(after)
        clauses.append(f"({sort.expression}, id) {beyond} (%s::{sort.cast}, %s::uuid)")
        params += [key, last_id]
    sql = (
        f"SELECT {select} FROM {table} WHERE {' AND '.join(clauses)} "  # noqa: S608
        f"ORDER BY {sort.expression} {direction}, id {direction} LIMIT %s"
    )
    return sql, [*params, first + 1]


def _keyset_cursor(after: str) -> tuple[Any, str]:
    """(sort key, id) of a keyset cursor; whatever else a client sends is its mistake."""
    found = decode_cursor(after)
    if len(found) != 2 or isinstance(found[0], list | dict) or not isinstance(found[1], str):
        raise BadCursorError("not a cursor from this API")
    try:
        UUID(found[1])
    except ValueError as exc:
        raise BadCursorError("not a cursor from this API") from exc
    return found[0], found[1]


@asynccontextmanager
async def _cursor_errors() -> AsyncIterator[None]:
    """A cursor's sort key the database cannot cast (a text where a number sorts) is the
    client's mistake, not a fault of the server."""
    try:
        yield
    except psycopg.errors.DataError as exc:
        raise BadCursorError("not a cursor from this API") from exc


async def keyset_page(
    conn: psycopg.AsyncConnection[Any],
    row_type: type[R],
    table: str,
    columns: str,
    where: tuple[list[str], list[Any]],
    sort: Sort[R],
    first: int,
    after: str | None,
) -> Page[R]:
    """One page of `table` rows matching `where` (SQL clauses, parameters) in `sort` order,
    continuing after the cursor `after`; each item's cursor is (sort key, id)."""
    first = clamp(first)
    sql, params = _keyset_query(columns, table, where, sort, first, after)
    async with _cursor_errors(), conn.cursor(row_factory=class_row(row_type)) as cur:
        await cur.execute(sql, params)
        rows = await cur.fetchall()
    return page_of(rows, first, lambda r: (sort.key(r), str(r.id)))


JSON_OBJECT_MAX_FIELDS = 50
"""`json_build_object` takes at most 100 arguments: 50 key/value pairs."""


@dataclass(frozen=True)
class Constant:
    """A fixed string value in a JSON page's objects (sent as a parameter, never as SQL)."""

    value: str


JsonFields = Sequence[tuple[str, "str | Constant"]]
"""(output key, value) in output order; a `str` value is a SQL expression of the caller's own
(never client input), a `Constant` is the same value in every object."""


def json_object(fields: JsonFields) -> tuple[str, list[Any]]:
    """`… AS node`: a select item rendering `fields` as one JSON object's text, and its
    parameters (the keys, and the constants)."""
    pairs: list[str] = []
    values: list[Any] = []
    for key, value in fields:
        values.append(key)
        if isinstance(value, Constant):
            pairs.append("%s::text, %s::text")
            values.append(value.value)
        else:
            pairs.append(f"%s::text, {value}")
    return f"json_build_object({', '.join(pairs)})::text AS node", values


async def keyset_json_page(
    conn: psycopg.AsyncConnection[Any],
    table: str,
    fields: JsonFields,
    where: tuple[list[str], list[Any]],
    sort: Sort[Any],
    first: int,
    after: str | None,
    *,
    with_cursors: bool = True,
) -> Page[str]:
    """`keyset_page`, but each item is its row as JSON text, built by PostgreSQL: an object
    with `fields` in their order. Keys are parameters (they may be client-chosen aliases).
    Cursors are the same as `keyset_page`'s (made here from `sort.columns`); without
    `with_cursors` there are none (`cursors` empty, `end_cursor` None)."""
    if not sort.columns or len(fields) > JSON_OBJECT_MAX_FIELDS:
        raise ValueError("this page cannot be built as JSON")
    first = clamp(first)
    node, values = json_object(fields)
    # `cursor_id`, not `id`: ORDER BY `id` must stay the uuid column, not this text
    select = f"id::text AS cursor_id, {', '.join(sort.columns)}, {node}" if with_cursors else node
    sql, params = _keyset_query(select, table, where, sort, first, after)
    async with _cursor_errors(), conn.cursor(row_factory=namedtuple_row) as cur:
        await cur.execute(sql, values + params)
        rows = await cur.fetchall()
    has_next = len(rows) > first
    rows = rows[:first]
    nodes: list[str] = [row[-1] for row in rows]  # the `node` column
    if not with_cursors:
        return Page(nodes, has_next, None)
    cursors = [encode_cursor((sort.key(row), row[0])) for row in rows]
    return Page(nodes, has_next, cursors[-1] if cursors else None, cursors=cursors)

"""Keyset (cursor) pagination shared by every read model: stable under inserts, O(page) cost."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar
from uuid import UUID

import orjson
import psycopg
from psycopg.rows import class_row

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


def newest_first(column: str) -> Sort[Any]:
    """The usual order: a timestamp column, most recent first."""
    return Sort(column, True, "timestamptz", lambda row: getattr(row, column).isoformat())


async def rows_by_ids(
    conn: psycopg.AsyncConnection[Any], row_type: type[R], table: str, columns: str, ids: list[UUID]
) -> dict[UUID, R]:
    async with conn.cursor(row_factory=class_row(row_type)) as cur:
        await cur.execute(f"SELECT {columns} FROM {table} WHERE id = ANY(%s)", (ids,))  # noqa: S608
        return {row.id: row for row in await cur.fetchall()}


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
    clauses, params = ["true", *where[0]], list(where[1])
    direction, beyond = ("DESC", "<") if sort.descending else ("ASC", ">")
    if after:
        key, last_id = decode_cursor(after)
        clauses.append(f"({sort.expression}, id) {beyond} (%s::{sort.cast}, %s::uuid)")
        params += [key, last_id]
    sql = (
        f"SELECT {columns} FROM {table} WHERE {' AND '.join(clauses)} "  # noqa: S608
        f"ORDER BY {sort.expression} {direction}, id {direction} LIMIT %s"
    )
    async with conn.cursor(row_factory=class_row(row_type)) as cur:
        await cur.execute(sql, [*params, first + 1])
        rows = await cur.fetchall()
    return page_of(rows, first, lambda r: (sort.key(r), str(r.id)))

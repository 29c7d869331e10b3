"""Reading the store in position order, for the relay, rebuilds and the CLI.

These readers bring their own connection: the relay reads on a session it also LISTENs on,
a rebuild on a session of its own beside the one it writes with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast
from uuid import UUID

import psycopg
from psycopg import sql

from eventstore.envelope import EVENTS_TABLE

StoredRow = tuple[int, UUID, int, str, bytes]
"""(position, originator id, version, type, state), in the order `decode_event` takes them."""

_COLUMNS = "notification_id, originator_id, originator_version, topic, state"


def head_position(conn: psycopg.Connection[Any]) -> int:
    """The position of the last stored event (0 for an empty store)."""
    row = conn.execute(
        sql.SQL("SELECT coalesce(max(notification_id), 0) FROM {}").format(
            sql.Identifier(EVENTS_TABLE)
        )
    ).fetchone()
    return int(row[0]) if row else 0


def events_after(
    conn: psycopg.Connection[Any],
    position: int,
    limit: int,
    *,
    until: int | None = None,
    types: Sequence[str] | None = None,
) -> list[StoredRow]:
    """Up to `limit` events after `position` (and at most `until`, of `types` only), in order."""
    query = sql.SQL("SELECT {} FROM {} WHERE notification_id > %s").format(
        sql.SQL(_COLUMNS), sql.Identifier(EVENTS_TABLE)
    )
    params: list[Any] = [position]
    if until is not None:
        query += sql.SQL(" AND notification_id <= %s")
        params.append(until)
    if types is not None:
        query += sql.SQL(" AND topic = ANY(%s)")
        params.append(list(types))
    query += sql.SQL(" ORDER BY notification_id LIMIT %s")
    params.append(limit)
    with conn.cursor(binary=True) as cur:
        return cast("list[StoredRow]", cur.execute(query, params).fetchall())


def listen_for_writes(conn: psycopg.Connection[Any]) -> None:
    """Have `conn` receive a notification after every write to the store."""
    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(EVENTS_TABLE)))

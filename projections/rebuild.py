"""Rebuilding a projection from the event store (not Kafka) with no read downtime.

The new tables are filled in `<schema>__next` while the live ones keep serving and the live
worker keeps applying. The swap transaction locks the live checkpoint table (waiting out any
batch in flight and holding off the next), applies the last events, and renames the schemas.
A worker statement that was waiting re-resolves the names after the rename and continues in the
new schema from its checkpoint, so nothing is lost or applied twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from projections.base import Projection, decode_event
from projections.runtime import CHECKPOINT_DDL, write_statements

Progress = Callable[[int, int], None]
Prepare = Callable[[psycopg.Connection[Any], Projection, str], None]


@dataclass(frozen=True)
class RebuildResult:
    events_applied: int
    events_scanned: int
    head: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events_scanned / self.seconds if self.seconds else 0.0


def head_position(conn: psycopg.Connection[Any], events_table: str) -> int:
    row = conn.execute(f"SELECT coalesce(max(notification_id), 0) FROM {events_table}").fetchone()  # noqa: S608
    return int(row[0]) if row else 0


def _replay(
    conn: psycopg.Connection[Any],
    projection: Projection,
    schema: str,
    events_table: str,
    start: int,
    stop: int,
    chunk: int,
    progress: Progress,
) -> tuple[int, int]:
    """Apply events in (start, stop] into `schema`; returns (last position, events applied)."""
    types = list(projection.event_types)
    position, applied = start, 0
    while position < stop:
        with conn.transaction(), conn.cursor() as cur:
            rows = cur.execute(
                f"SELECT notification_id, originator_id, originator_version, topic, state "  # noqa: S608
                f"FROM {events_table} WHERE notification_id > %s AND notification_id <= %s "
                "AND topic = ANY(%s) ORDER BY notification_id LIMIT %s",
                (position, stop, types, chunk),
            ).fetchall()
            events = [decode_event(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows]
            write_statements(cur, schema, projection.statements(events))
            position = events[-1].position if len(rows) == chunk else stop
            cur.execute(
                f"INSERT INTO {schema}._checkpoint (partition, position) VALUES (0, %s) "  # noqa: S608
                "ON CONFLICT (partition) DO UPDATE SET position = EXCLUDED.position, "
                "kafka_offset = -1, updated_at = now()",
                (position,),
            )
        applied += len(events)
        progress(position, stop)
    return position, applied


def rebuild(
    conn: psycopg.Connection[Any],
    projection: Projection,
    prepare: Prepare,
    *,
    events_table: str = "bsdflow_events",
    chunk: int = 5_000,
    progress: Progress = lambda done, total: None,
    catch_up_lag: int = 1_000,
) -> RebuildResult:
    """Replay into a fresh schema, catch up with the head, then swap it in atomically."""
    started = time.perf_counter()
    live, fresh, old = projection.schema, f"{projection.schema}__next", f"{projection.schema}__old"
    conn.autocommit = True
    conn.execute(f"DROP SCHEMA IF EXISTS {fresh} CASCADE")
    prepare(conn, projection, fresh)
    position, applied = 0, 0
    while True:  # chase the head until the remainder is small enough to apply under the lock
        head = head_position(conn, events_table)
        position, done = _replay(
            conn, projection, fresh, events_table, position, head, chunk, progress
        )
        applied += done
        if head_position(conn, events_table) - position <= catch_up_lag:
            break
    with conn.transaction():
        conn.execute(CHECKPOINT_DDL.replace("{schema}", live))
        conn.execute(f"LOCK TABLE {live}._checkpoint IN ACCESS EXCLUSIVE MODE")
        head = head_position(conn, events_table)
        # Nested transactions are savepoints here: the last events commit with the rename.
        position, done = _replay(
            conn, projection, fresh, events_table, position, head, chunk, lambda d, t: None
        )
        applied += done
        conn.execute(f"ALTER SCHEMA {live} RENAME TO {old}")
        conn.execute(f"ALTER SCHEMA {fresh} RENAME TO {live}")
    conn.autocommit = True
    conn.execute(f"DROP SCHEMA IF EXISTS {old} CASCADE")
    progress(head, head)
    return RebuildResult(applied, head, head, time.perf_counter() - started)

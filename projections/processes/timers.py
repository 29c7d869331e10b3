"""What the scheduler asks of the processes read model, across tenants: the SLA timers due.

Each process it picks is checked against the event store before anything is recorded, so a
read model that lags can only make it look, never fire twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from projections.base import schema_of

SCHEMA = schema_of(__name__)


Timer = tuple[UUID, datetime]
"""A process and when its next timer falls due, as the read model says."""


def due_timers(
    conn: psycopg.Connection[Any], now: datetime, limit: int, handled: list[Timer]
) -> list[Timer]:
    """Open processes with a reminder or a breach due by `now`, the most overdue first, but
    the timers just `handled` (a process whose next timer moved on is due again)."""
    rows = conn.execute(
        f"SELECT id, next_timer_at FROM {SCHEMA}.processes "  # noqa: S608
        "WHERE next_timer_at <= %s AND status = 'open' "
        "AND (id, next_timer_at) NOT IN (SELECT * FROM unnest(%s::uuid[], %s::timestamptz[])) "
        "ORDER BY next_timer_at LIMIT %s",
        (now, [i for i, _ in handled], [t for _, t in handled], limit),
    ).fetchall()
    return [(row[0], row[1]) for row in rows]


def next_timer(conn: psycopg.Connection[Any]) -> datetime | None:
    row = conn.execute(
        f"SELECT min(next_timer_at) FROM {SCHEMA}.processes "  # noqa: S608
        "WHERE next_timer_at IS NOT NULL AND status = 'open'"
    ).fetchone()
    return row[0] if row else None

"""What the scheduler asks of the action-runs read model, across tenants.

The scheduler is a worker, connected as the read models' owner like the projection workers,
so these queries see every tenant; each run it picks is still checked against the event store
before it is started.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from projections.base import schema_of

SCHEMA = schema_of(__name__)


@dataclass(frozen=True)
class DueRun:
    id: UUID
    tenant_id: UUID
    process_action_id: UUID
    status: str
    due_at: datetime
    catch_up: dict[str, Any] | None


@dataclass(frozen=True)
class Recurring:
    id: UUID
    tenant_id: UUID
    action_id: UUID
    schedule: dict[str, Any]
    catch_up: dict[str, Any]
    created_at: datetime


def due_runs(conn: psycopg.Connection[Any], until: datetime, limit: int) -> list[DueRun]:
    rows = conn.execute(
        f"SELECT r.id, r.tenant_id, r.process_action_id, r.status, r.due_at, pa.catch_up "  # noqa: S608
        f"FROM {SCHEMA}.action_runs r LEFT JOIN {SCHEMA}.process_actions pa "
        "ON pa.tenant_id = r.tenant_id AND pa.id = r.process_action_id "
        "WHERE r.status IN ('planned', 'retrying') AND r.due_at <= %s "
        "ORDER BY r.due_at LIMIT %s",
        (until, limit),
    ).fetchall()
    return [DueRun(*row) for row in rows]


def next_due(conn: psycopg.Connection[Any]) -> datetime | None:
    """When the earliest run still waiting falls due (None: no run waits)."""
    row = conn.execute(
        f"SELECT min(due_at) FROM {SCHEMA}.action_runs "  # noqa: S608
        "WHERE status IN ('planned', 'retrying')"
    ).fetchone()
    return row[0] if row else None


def stuck_sending(conn: psycopg.Connection[Any], before: datetime, limit: int) -> list[UUID]:
    """Runs whose attempt started before `before` and never reported back."""
    rows = conn.execute(
        f"SELECT id FROM {SCHEMA}.action_runs WHERE status = 'sending' AND updated_at < %s "  # noqa: S608
        "ORDER BY updated_at LIMIT %s",
        (before, limit),
    ).fetchall()
    return [row[0] for row in rows]


def recurring_actions(conn: psycopg.Connection[Any]) -> list[Recurring]:
    rows = conn.execute(
        f"SELECT id, tenant_id, action_id, schedule, catch_up, created_at "  # noqa: S608
        f"FROM {SCHEMA}.process_actions WHERE trigger_on = 'schedule' AND NOT paused"
    ).fetchall()
    return [Recurring(*row) for row in rows]

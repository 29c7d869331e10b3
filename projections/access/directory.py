"""What the reactor asks of the access read model, across tenants: the contacts of a role's
members (the event store cannot list members by role)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

from projections.base import schema_of

SCHEMA = schema_of(__name__)


def contacts_of_role(conn: psycopg.Connection[Any], tenant_id: UUID, role: str) -> list[UUID]:
    rows = conn.execute(
        f"SELECT participant_id FROM {SCHEMA}.members "  # noqa: S608
        "WHERE tenant_id = %s AND roles ? %s AND participant_id IS NOT NULL ORDER BY actor",
        (tenant_id, role),
    ).fetchall()
    return [row[0] for row in rows]

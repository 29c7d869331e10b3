"""Scheduler leadership: one acting scheduler at a time, with a fencing epoch.

Leadership is a PostgreSQL session advisory lock, so a crashed leader's lock goes with its
connection. Each takeover increments the epoch and reads the previous leader's last heartbeat:
what fell due between that heartbeat and now was missed, and the catch-up policies decide
about it. Every tick renews the heartbeat only while the epoch is still ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

LOCK_KEY = 0x62_73_64_66_73_63_68  # "bsdfsch"
DDL = """
CREATE SCHEMA IF NOT EXISTS bsdflow_ops;
CREATE TABLE IF NOT EXISTS bsdflow_ops.scheduler_lease (
    name text PRIMARY KEY,
    epoch bigint NOT NULL,
    heartbeat timestamptz,
    holder text
);
CREATE TABLE IF NOT EXISTS bsdflow_ops.schedule_cursors (
    process_action_id uuid PRIMARY KEY,
    planned_until timestamptz NOT NULL
);
"""


@dataclass(frozen=True)
class Takeover:
    epoch: int
    previous_heartbeat: datetime | None


class Lease:
    def __init__(self, database_url: str, holder: str) -> None:
        self.database_url = database_url
        self.holder = holder
        self.conn: psycopg.Connection[Any] | None = None
        self.epoch = 0

    def acquire(self, now: datetime) -> Takeover | None:
        """Become the leader if nobody is; None if another scheduler holds the lease."""
        if self.conn is None or self.conn.closed:
            self.conn = psycopg.connect(self.database_url, autocommit=True)
            self.conn.execute(DDL)
        row = self.conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
        if not row or not row[0]:
            return None
        with self.conn.transaction():
            found = self.conn.execute(
                "SELECT epoch, heartbeat FROM bsdflow_ops.scheduler_lease "
                "WHERE name = 'scheduler' FOR UPDATE"
            ).fetchone()
            epoch = (found[0] if found else 0) + 1
            self.conn.execute(
                "INSERT INTO bsdflow_ops.scheduler_lease (name, epoch, heartbeat, holder) "
                "VALUES ('scheduler', %s, %s, %s) ON CONFLICT (name) DO UPDATE "
                "SET epoch = EXCLUDED.epoch, heartbeat = EXCLUDED.heartbeat, holder = EXCLUDED.holder",
                (epoch, now, self.holder),
            )
        self.epoch = epoch
        return Takeover(epoch, found[1] if found else None)

    def renew(self, now: datetime) -> bool:
        """Record a heartbeat; False if leadership was lost (connection gone, newer epoch)."""
        if self.conn is None or self.conn.closed:
            return False
        try:
            cur = self.conn.execute(
                "UPDATE bsdflow_ops.scheduler_lease SET heartbeat = %s "
                "WHERE name = 'scheduler' AND epoch = %s",
                (now, self.epoch),
            )
        except psycopg.OperationalError:
            self.release()
            return False
        return cur.rowcount == 1

    def cursor(self, process_action_id: Any) -> datetime | None:
        assert self.conn is not None
        row = self.conn.execute(
            "SELECT planned_until FROM bsdflow_ops.schedule_cursors WHERE process_action_id = %s",
            (process_action_id,),
        ).fetchone()
        return row[0] if row else None

    def advance_cursor(self, process_action_id: Any, until: datetime) -> None:
        assert self.conn is not None
        self.conn.execute(
            "INSERT INTO bsdflow_ops.schedule_cursors (process_action_id, planned_until) "
            "VALUES (%s, %s) ON CONFLICT (process_action_id) DO UPDATE "
            "SET planned_until = GREATEST(schedule_cursors.planned_until, EXCLUDED.planned_until)",
            (process_action_id, until),
        )

    def release(self) -> None:
        if self.conn is not None and not self.conn.closed:
            self.conn.close()  # the advisory lock goes with the session
        self.conn = None

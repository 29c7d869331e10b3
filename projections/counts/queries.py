"""Reading the tenant's live counts (the transaction carries the tenant: row-level security)."""

from __future__ import annotations

from typing import Any

import psycopg

from projections.base import schema_of
from projections.counts import KINDS

SCHEMA = schema_of(__name__)


class CountReads:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    async def all(self) -> dict[str, int]:
        """Every kind, with 0 for kinds the tenant has never had."""
        async with self.conn.cursor() as cur:
            await cur.execute(f"SELECT kind, n FROM {SCHEMA}.counts")  # noqa: S608
            found = {str(kind): int(n) for kind, n in await cur.fetchall()}
        return {kind: found.get(kind, 0) for kind in KINDS} | found

"""Writing a projection's statements: grouped into round trips to PostgreSQL and sent."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg

from projections.base import Params, Statement


@dataclass(frozen=True, slots=True)
class Write:
    """One round trip: a statement over a run of rows, or an executemany of a run."""

    sql: str
    params: list[Params]
    many: bool


def writes(schema: str, runs: Iterable[list[Statement]]) -> list[Write]:
    """One round trip per run (see `Projection.runs`): a run of `Rows` statements as one
    statement over all their rows, others as one pipelined executemany."""
    found = []
    for run in runs:
        rows = run[0].rows
        if rows is None:
            sql = run[0].sql.replace("{schema}", schema)
            found.append(Write(sql, [s.params for s in run], True))
        else:
            found.append(Write(rows.expand(schema), [rows.params(run)], False))
    return found


def send(cur: psycopg.Cursor[Any], found: Iterable[Write]) -> None:
    for write in found:
        if write.many:
            cur.executemany(write.sql, write.params)
        else:
            cur.execute(write.sql, write.params[0])


def write_statements(
    cur: psycopg.Cursor[Any], schema: str, statements: Iterable[Statement]
) -> None:
    """Write statements one by one, in order (for one event's; a batch goes through `runs`)."""
    send(cur, writes(schema, ([s] for s in statements)))

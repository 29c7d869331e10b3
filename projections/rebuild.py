"""Rebuilding a projection from the event store (not Kafka) with no read downtime.

The new tables are filled in `<schema>__next` while the live ones keep serving and the live
worker keeps applying. The swap transaction locks the live checkpoint table (waiting out any
batch in flight and holding off the next), applies the last events, and renames the schemas.
A worker statement that was waiting re-resolves the names after the rename and continues in the
new schema from its checkpoint, so nothing is lost or applied twice.

Filling is a bulk load: chunks of events applied like live batches (a row created and updated
within a chunk written once, every run of writes one set-based statement: `Projection.runs`),
the next chunk read and decoded while the server applies this one, commits that need not
wait for the disk (the fresh schema is dropped and refilled after a crash), and the secondary
indexes built once at the end instead of maintained row by row (but GiST: `deferred_indexes`).
"""

from __future__ import annotations

import gc
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from eventstore import decode_event
from eventstore.reading import StoredRow, events_after, head_position
from eventstore.sealing import open_on
from projections.apply import CHECKPOINT_DDL
from projections.base import Projection
from projections.writes import Write, send, writes

Progress = Callable[[int, int], None]
Prepare = Callable[[psycopg.Connection[Any], Projection, str], None]

DEFERRED_INDEX = re.compile(r"^CREATE INDEX IF NOT EXISTS (\w+)\s[^;]*;", re.MULTILINE)
"""A non-unique index in a projection's DDL: nothing depends on it while the schema fills."""
GIST = re.compile(r"\sUSING\s+gist\s", re.IGNORECASE)

WINDOW_CHUNKS = 4
"""How many chunks' worth of positions one read covers."""


@dataclass(frozen=True)
class RebuildResult:
    events_applied: int
    events_scanned: int
    head: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events_scanned / self.seconds if self.seconds else 0.0


def deferred_indexes(projection: Projection, schema: str) -> dict[str, str]:
    """Index name → its CREATE statement, for the indexes built after the bulk load.

    Not GiST: without sort support in its operator class (cube's, say) a GiST build inserts
    row by row, no cheaper than keeping the index up during the fill, where that work overlaps
    the decoding of the next chunk instead of adding to the end.
    """
    ddl = projection.create_sql(schema)
    found = DEFERRED_INDEX.finditer(ddl)
    return {m.group(1): m.group(0) for m in found if not GIST.search(m.group(0))}


@dataclass(frozen=True)
class _Chunk:
    events: int
    last: int | None
    """Position of the last event read, if any."""
    full: bool
    """As many events as asked for: there may be more."""
    writes: list[Write]
    until: int
    """The end of the window of positions read: none of them is left when not `full`."""


def _prepare(
    reader: psycopg.Connection[Any],
    projection: Projection,
    schema: str,
    rows: list[StoredRow],
    chunk: int,
    until: int,
) -> _Chunk:
    decoded = [decode_event(r[0], r[1], r[2], r[3], r[4]) for r in rows]
    # Keys are looked up now: a rebuild after a forgetting finds none, and replays null.
    events = open_on(reader, decoded)
    found = writes(schema, projection.runs(events))
    last = events[-1].position if events else None
    return _Chunk(len(events), last, len(rows) == chunk, found, until)


def _replay(
    conn: psycopg.Connection[Any],
    reader: psycopg.Connection[Any],
    projection: Projection,
    schema: str,
    start: int,
    stop: int,
    chunk: int,
    progress: Progress,
) -> tuple[int, int]:
    """Apply events in (start, stop] into `schema`; returns (last position, events applied).

    A thread reads the next chunk (on `reader`, a session of its own), decodes it and builds
    its statements while the server applies this one (psycopg lets go of the GIL while it
    waits), so Python and PostgreSQL work at once.
    """
    types = list(projection.event_types)
    position, applied = start, 0
    if position >= stop:
        return position, applied

    def fetch(after: int) -> _Chunk:
        # A window of positions at a time: asked for "the next N of these types" up to the
        # end, PostgreSQL would sort every later event for each chunk (quadratic over history).
        until = min(stop, after + WINDOW_CHUNKS * chunk)
        rows = events_after(reader, after, chunk, until=until, types=types)
        return _prepare(reader, projection, schema, rows, chunk, until)

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: Future[_Chunk] | None = pool.submit(fetch, position)
        while pending is not None:
            prepared = pending.result()
            position = prepared.last if prepared.full and prepared.last else prepared.until
            pending = pool.submit(fetch, position) if position < stop else None
            with conn.transaction(), conn.cursor() as cur:
                send(cur, prepared.writes)
                cur.execute(
                    f"INSERT INTO {schema}._checkpoint (partition, position) VALUES (0, %s) "  # noqa: S608
                    "ON CONFLICT (partition) DO UPDATE SET position = EXCLUDED.position, "
                    "kafka_offset = -1, updated_at = now()",
                    (position,),
                )
            applied += prepared.events
            progress(position, stop)
    return position, applied


@contextmanager
def _fewer_collections(threshold: int = 50_000) -> Iterator[None]:
    """Collect the youngest generation far less often while chunks are decoded.

    A chunk's events stay alive until it is applied, so the collector kept walking tens of
    thousands of them, about 8 % of a rebuild's time; refcounting frees them anyway (decoded
    JSON holds no cycles), and a collection still runs every `threshold` allocations.
    """
    young, *older = gc.get_threshold()
    gc.set_threshold(max(young, threshold), *older)
    try:
        yield
    finally:
        gc.set_threshold(young, *older)


def _fill(
    conn: psycopg.Connection[Any],
    reader: psycopg.Connection[Any],
    projection: Projection,
    deferred: dict[str, str],
    chunk: int,
    progress: Progress,
    catch_up_lag: int,
) -> tuple[int, int]:
    """Fill the fresh schema up to near the head and build its deferred indexes; returns
    (last position, events applied)."""
    fresh = f"{projection.schema}__next"

    def chase(position: int) -> tuple[int, int]:
        """Replay until the remainder is small enough to apply under the swap's lock."""
        applied = 0
        while True:
            head = head_position(conn)
            position, done = _replay(
                conn, reader, projection, fresh, position, head, chunk, progress
            )
            applied += done
            if head_position(conn) - position <= catch_up_lag:
                return position, applied

    # Filling commits need not wait for the disk: after a crash the fresh schema is dropped
    # and filled again. The swap commits durably.
    conn.execute("SET synchronous_commit = off")
    try:
        position, applied = chase(0)
        for create in deferred.values():
            conn.execute(create)
        position, done = chase(position)  # what the live side wrote while indexes were built
        return position, applied + done
    finally:
        conn.execute("RESET synchronous_commit")


def rebuild(
    conn: psycopg.Connection[Any],
    projection: Projection,
    prepare: Prepare,
    *,
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
    deferred = deferred_indexes(projection, fresh)
    for name in deferred:
        conn.execute(f"DROP INDEX {fresh}.{name}")

    # Reading on a session of its own keeps the reads off the writes' path (`_replay`).
    info = make_conninfo(conn.info.dsn, password=conn.info.password or None)
    with psycopg.connect(info, autocommit=True) as reader, _fewer_collections():
        position, applied = _fill(conn, reader, projection, deferred, chunk, progress, catch_up_lag)
        with conn.transaction():
            conn.execute(CHECKPOINT_DDL.replace("{schema}", live))
            conn.execute(f"LOCK TABLE {live}._checkpoint IN ACCESS EXCLUSIVE MODE")
            head = head_position(conn)
            # Nested transactions are savepoints here: the last events commit with the rename.
            position, done = _replay(
                conn,
                reader,
                projection,
                fresh,
                position,
                head,
                chunk,
                lambda d, t: None,
            )
            applied += done
            conn.execute(f"ALTER SCHEMA {live} RENAME TO {old}")
            conn.execute(f"ALTER SCHEMA {fresh} RENAME TO {live}")
    conn.autocommit = True
    conn.execute(f"DROP SCHEMA IF EXISTS {old} CASCADE")
    progress(head, head)
    return RebuildResult(applied, head, head, time.perf_counter() - started)

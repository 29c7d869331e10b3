"""Applying events to projections: one transaction per batch, checkpoints inside it.

The checkpoint is the last applied event-store position per partition, kept in the
projection's own schema: a redelivered or replayed event at or below it is skipped, so applying
a batch twice, or after a crash, never changes the read model. A batch that fails is retried
event by event; an event that still fails after bounded retries is parked in dead letters and
the checkpoint moves past it, so later events keep flowing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg

from eventstore import RecordedEvent
from eventstore.sealing import open_on
from projections.base import Projection
from projections.writes import send, writes

META_SCHEMA = "bsdflow_ops"
META_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {META_SCHEMA};
CREATE TABLE IF NOT EXISTS {META_SCHEMA}.dead_letters (
    id bigserial PRIMARY KEY,
    projection text NOT NULL,
    topic text NOT NULL,
    partition int NOT NULL,
    kafka_offset bigint NOT NULL,
    position bigint NOT NULL,
    event_type text NOT NULL,
    originator_id uuid NOT NULL,
    event jsonb NOT NULL,
    error text NOT NULL,
    attempts int NOT NULL,
    parked_at timestamptz NOT NULL DEFAULT now(),
    retried_at timestamptz,
    UNIQUE (projection, position)
);
ALTER TABLE {META_SCHEMA}.dead_letters ADD COLUMN IF NOT EXISTS raw bytea;
"""
CHECKPOINT_DDL = """
CREATE TABLE IF NOT EXISTS {schema}._checkpoint (
    partition int PRIMARY KEY,
    position bigint NOT NULL,
    kafka_offset bigint NOT NULL DEFAULT -1,
    updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE {schema}._checkpoint ADD COLUMN IF NOT EXISTS topic_id text;
"""


@dataclass(frozen=True, slots=True)
class Delivered:
    """An event as it came off a Kafka partition."""

    event: RecordedEvent
    topic: str
    partition: int
    offset: int
    topic_id: str | None = None
    """The identity of the topic incarnation it came from: an offset means nothing without it."""


@dataclass(frozen=True)
class Parked:
    delivered: Delivered
    error: str


@dataclass(frozen=True)
class BatchResult:
    applied: int
    skipped: int
    position: int
    parked: list[Parked]


def create_schema(conn: psycopg.Connection[Any], projection: Projection, schema: str) -> None:
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    conn.execute(projection.create_sql(schema))
    conn.execute(CHECKPOINT_DDL.replace("{schema}", schema))


def checkpoint(conn: psycopg.Connection[Any], schema: str, partition: int = 0) -> tuple[int, int]:
    """(position, kafka offset) last applied on this partition; (0, -1) before the first."""
    found = checkpoint_of(conn, schema, partition)
    return found.position, found.offset


@dataclass(frozen=True, slots=True)
class Checkpoint:
    position: int = 0
    offset: int = -1
    topic_id: str | None = None


def checkpoint_of(conn: psycopg.Connection[Any], schema: str, partition: int = 0) -> Checkpoint:
    """Where a partition was last applied: position, and the offset in which topic."""
    row = conn.execute(
        f"SELECT position, kafka_offset, topic_id FROM {schema}._checkpoint "  # noqa: S608
        "WHERE partition = %s",
        (partition,),
    ).fetchone()
    return Checkpoint(int(row[0]), int(row[1]), row[2]) if row else Checkpoint()


def _advance(cur: psycopg.Cursor[Any], schema: str, position: int, last: Delivered) -> None:
    cur.execute(
        f"INSERT INTO {schema}._checkpoint (partition, position, kafka_offset, topic_id) "  # noqa: S608
        "VALUES (%s, %s, %s, %s) ON CONFLICT (partition) DO UPDATE "
        "SET position = EXCLUDED.position, kafka_offset = EXCLUDED.kafka_offset, "
        "topic_id = EXCLUDED.topic_id, updated_at = now()",
        (last.partition, position, last.offset, last.topic_id),
    )


def apply_batch(
    conn: psycopg.Connection[Any],
    projection: Projection,
    batch: Sequence[Delivered],
    *,
    schema: str | None = None,
    attempts: int = 3,
    backoff: float = 0.05,
    sleep: Callable[[float], None] = time.sleep,
) -> BatchResult:
    """Apply one partition's batch; returns what was applied, skipped and parked."""
    schema = schema or projection.schema
    if not batch:
        return BatchResult(0, 0, checkpoint(conn, schema)[0], [])
    try:
        with conn.transaction(), conn.cursor() as cur:
            return _apply_in(cur, [(projection, schema)], batch)[0]
    except Exception as exc:
        if unavailable(conn, exc):
            raise  # not the events' fault: let the worker reconnect and try again
    return _apply_one_by_one(conn, projection, batch, schema, attempts, backoff, sleep)


def apply_together(
    conn: psycopg.Connection[Any], projections: Sequence[Projection], batch: Sequence[Delivered]
) -> list[BatchResult]:
    """Apply one partition's batch to several projections in one transaction: one commit
    instead of one per projection (most events concern two or three), and their checkpoints
    locked in one statement and advanced in another. If any of them fails, nothing is kept and
    each is applied on its own, where failures are retried and parked."""
    try:
        with conn.transaction(), conn.cursor() as cur:
            return _apply_in(cur, [(p, p.schema) for p in projections], batch)
    except Exception as exc:
        if unavailable(conn, exc):
            raise
    return [apply_batch(conn, p, batch) for p in projections]


def _apply_in(
    cur: psycopg.Cursor[Any], targets: list[tuple[Projection, str]], batch: Sequence[Delivered]
) -> list[BatchResult]:
    """Each (projection, schema) gets the events past its checkpoint: the checkpoints locked
    in one statement, the writes, then the checkpoints advanced in one statement."""
    schemas = [schema for _, schema in targets]
    lasts = _locked_checkpoints(cur, schemas, batch[0].partition)
    events = open_on(cur.connection, [d.event for d in batch])
    results = []
    for (projection, schema), last in zip(targets, lasts, strict=True):
        fresh = [e for e in events if e.position > last]
        send(cur, writes(schema, projection.runs(fresh)))
        position = max(last, batch[-1].event.position)
        results.append(BatchResult(len(fresh), len(batch) - len(fresh), position, []))
    _advance_all(cur, schemas, [r.position for r in results], batch[-1])
    return results


def _locked_checkpoints(cur: psycopg.Cursor[Any], schemas: list[str], partition: int) -> list[int]:
    """Each schema's checkpoint position on `partition` (0 before the first), row-locked."""
    columns = ", ".join(
        f"(SELECT position FROM {schema}._checkpoint WHERE partition = %(p)s FOR UPDATE)"  # noqa: S608
        for schema in schemas
    )
    row = cur.execute(f"SELECT {columns}", {"p": partition}).fetchone()
    return [int(value or 0) for value in row or ()]


def _advance_all(
    cur: psycopg.Cursor[Any], schemas: list[str], positions: list[int], last: Delivered
) -> None:
    upserts = ", ".join(
        f"c{i} AS (INSERT INTO {schema}._checkpoint (partition, position, kafka_offset, "  # noqa: S608
        f"topic_id) VALUES (%(partition)s, %(p{i})s, %(offset)s, %(topic)s) "
        "ON CONFLICT (partition) DO UPDATE SET position = EXCLUDED.position, "
        "kafka_offset = EXCLUDED.kafka_offset, topic_id = EXCLUDED.topic_id, "
        "updated_at = now() RETURNING 1)"
        for i, schema in enumerate(schemas)
    )
    params: dict[str, Any] = {f"p{i}": position for i, position in enumerate(positions)}
    params |= {"partition": last.partition, "offset": last.offset, "topic": last.topic_id}
    cur.execute(f"WITH {upserts} SELECT 1", params)


# SQLSTATE classes that say the database cannot work right now, whatever the event: connection
# exceptions, transaction rollbacks (deadlock, serialization), insufficient resources, objects
# in use, operator intervention (shutdown), system errors. Anything else the database refuses
# (bad data, a NUL byte, a program limit such as an index row too large) is the event's fault.
_TRANSIENT = frozenset({"08", "40", "53", "55", "57", "58"})


def unavailable(conn: psycopg.Connection[Any], exc: BaseException) -> bool:
    """True when retrying later, not parking the event, is the answer to `exc`."""
    if conn.broken or conn.closed:
        return True
    if not isinstance(exc, psycopg.Error):
        return False
    sqlstate = exc.sqlstate
    if sqlstate is None:
        return isinstance(exc, psycopg.OperationalError)
    return sqlstate[:2] in _TRANSIENT


def _locked_checkpoint(cur: psycopg.Cursor[Any], schema: str, partition: int) -> tuple[int, int]:
    row = cur.execute(
        f"SELECT position, kafka_offset FROM {schema}._checkpoint "  # noqa: S608
        "WHERE partition = %s FOR UPDATE",
        (partition,),
    ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, -1)


def _apply_one_by_one(
    conn: psycopg.Connection[Any],
    projection: Projection,
    batch: Sequence[Delivered],
    schema: str,
    attempts: int,
    backoff: float,
    sleep: Callable[[float], None],
) -> BatchResult:
    applied = skipped = 0
    parked: list[Parked] = []
    position = 0
    for delivered in batch:
        error = ""
        for attempt in range(attempts):
            try:
                with conn.transaction(), conn.cursor() as cur:
                    last, _ = _locked_checkpoint(cur, schema, delivered.partition)
                    position = max(last, delivered.event.position)
                    if delivered.event.position <= last:
                        skipped += 1
                    else:
                        events = open_on(cur.connection, [delivered.event])
                        send(cur, writes(schema, projection.runs(events)))
                        applied += 1
                    _advance(cur, schema, position, delivered)
                error = ""
                break
            except Exception as exc:
                if unavailable(conn, exc):
                    raise
                error = f"{type(exc).__name__}: {exc}".strip()
                sleep(backoff * (2**attempt))
        if error:
            parked.append(Parked(delivered, error))
            position = _park(conn, projection, delivered, schema, error, attempts)
    return BatchResult(applied, skipped, position, parked)


def storable(text: str) -> str:
    """`text` as PostgreSQL text and jsonb can hold it: NUL (raw or JSON-escaped) becomes U+FFFD."""
    return text.replace("\x00", "\ufffd").replace("\\u0000", "\\ufffd")


def _park(
    conn: psycopg.Connection[Any],
    projection: Projection,
    delivered: Delivered,
    schema: str,
    error: str,
    attempts: int,
) -> int:
    """Record the poison event and move the checkpoint past it, atomically.

    The exact payload is kept as bytes (`raw`); the `event` column, for people and queries, is
    a copy the database can store whatever the event held (a NUL byte is what may have made it
    poison in the first place), so parking cannot fail on the same bytes."""
    event = delivered.event
    raw = orjson.dumps({"data": event.data, "meta": dict(event.meta), "version": event.version})
    with conn.transaction(), conn.cursor() as cur:
        last, _ = _locked_checkpoint(cur, schema, delivered.partition)
        cur.execute(
            f"INSERT INTO {META_SCHEMA}.dead_letters (projection, topic, partition, kafka_offset, "  # noqa: S608
            "position, event_type, originator_id, event, raw, error, attempts) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (projection, position) "
            "DO UPDATE SET error = EXCLUDED.error, attempts = dead_letters.attempts + EXCLUDED.attempts",
            (
                projection.name,
                delivered.topic,
                delivered.partition,
                delivered.offset,
                event.position,
                event.type,
                event.originator_id,
                storable(raw.decode()),
                raw,
                storable(error),
                attempts,
            ),
        )
        position = max(last, event.position)
        _advance(cur, schema, position, delivered)
    return position

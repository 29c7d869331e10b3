"""The outbox relay: tails the event store's notification log and publishes each event to Kafka.

Order and delivery: events are read in notification-id order and produced with the idempotent
producer; the relay's position is stored only after every delivery report of a batch is
positive, together with the Kafka offset of the last event and the topic's identity. So each
event is published once, at an offset fixed by the event store, and the topic is always the
event store's log from the start:
- at start the relay reads what lies beyond its stored offset (published by a relay that died
  before storing its position) and carries on after it instead of publishing it again;
- if the topic is not the one the position was stored for (the embedded broker keeps topics in
  memory and starts empty; a topic deleted and recreated has a new id), or a batch lands at
  offsets other than the next ones, it publishes the whole log again from the start, on a
  fresh topic if the one it found holds anything, which reproduces the same offsets.
Every message carries the position of the one before it on its partition (`previous`), so a
consumer can tell a log it can continue from one with a gap.
LISTEN/NOTIFY wakes the relay as soon as a command commits; it also looks once per topic check
(`topic_check_seconds`), which covers a write that notified nobody (raw SQL into the table).
After a batch it rings the topic's doorbell (at most every 50 ms while it keeps publishing, and
once after the last batch), which wakes idle consumers.
One relay runs at a time (a PostgreSQL advisory lock); a second instance waits for it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from eventstore import read_metadata
from eventstore.reading import StoredRow, events_after, listen_for_writes
from infra.doorbell import Doorbell, ThrottledRing
from infra.kafka import (
    EVENTS_TOPIC,
    PREVIOUS,
    dead_letter_topic,
    delete_topic,
    ensure_topics,
    header,
    headers_of,
    producer_config,
    read_to_end,
    topic_identity,
)
from infra.readdb import DERIVED_WRITES

log = structlog.get_logger("bsdflow.relay")
LEADER_LOCK = 727_100
POSITION_DDL = """
CREATE SCHEMA IF NOT EXISTS bsdflow_ops;
CREATE TABLE IF NOT EXISTS bsdflow_ops.relay_position (
    topic text PRIMARY KEY,
    position bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE bsdflow_ops.relay_position ADD COLUMN IF NOT EXISTS kafka_offset bigint NOT NULL
    DEFAULT -1;
ALTER TABLE bsdflow_ops.relay_position ADD COLUMN IF NOT EXISTS topic_id text;
"""


class DeliveryFailedError(Exception):
    pass


class TopicChangedError(Exception):
    """The topic is not the log the relay's position was stored for."""


@dataclass(frozen=True)
class Published:
    """How far the topic holds the event store's log: the last position, at which offset,
    in which incarnation of the topic."""

    position: int = 0
    offset: int = -1
    topic_id: str | None = None


class Relay:
    def __init__(
        self,
        database_url: str,
        bootstrap: str,
        topic: str = EVENTS_TOPIC,
        batch_size: int = 2_000,
        topic_check_seconds: float = 1.0,
        doorbell: Doorbell | None = None,
    ) -> None:
        self.database_url = database_url
        self.bootstrap = bootstrap
        self.topic = topic
        self.batch_size = batch_size
        self.topic_check_seconds = topic_check_seconds
        self.ringer = ThrottledRing(doorbell, topic) if doorbell is not None else None
        self.published = Published()
        self.republished = 0  # times the whole log was published again (broker lost it)
        self.is_leader = threading.Event()

    @property
    def position(self) -> int:
        return self.published.position

    def run(self, stop: threading.Event) -> None:
        with psycopg.connect(self.database_url, autocommit=True) as lock_conn:
            while not stop.is_set():
                row = lock_conn.execute(
                    "SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK,)
                ).fetchone()
                if row and row[0]:
                    break
                stop.wait(1.0)  # another relay leads; take over when it goes away
            if stop.is_set():
                return
            self.is_leader.set()
            log.info("relay leading", topic=self.topic)
            try:
                while not stop.is_set():
                    try:
                        self._lead(stop)
                    except TopicChangedError as exc:
                        log.warning(
                            "topic changed under the relay; checking it again",
                            topic=self.topic,
                            reason=str(exc),
                        )
                    except Exception:  # broker or database trouble: retry, keep the lead
                        log.exception("relay failed; retrying")
                        stop.wait(1.0)
            finally:
                self.is_leader.clear()

    def _lead(self, stop: threading.Event) -> None:
        # A topic the broker lost fails a batch in 2 s instead of 30: the relay then finds out
        # why (`_align`) and publishes again, rather than hold every event back meanwhile.
        producer = Producer(
            producer_config(self.bootstrap) | {"topic.metadata.propagation.max.ms": 2_000}
        )
        # Kept for the lead: checked every `topic_check_seconds`, a new client each time
        # blocked the relay ≈ 55 ms a second, and commits in that window waited for it.
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        try:
            with (
                psycopg.connect(self.database_url, autocommit=True, options=DERIVED_WRITES) as conn,
                psycopg.connect(self.database_url, autocommit=True) as listener,
            ):
                conn.execute(POSITION_DDL)
                listen_for_writes(listener)
                self._align(conn, admin)
                checked = time.monotonic()
                while not stop.is_set():
                    if time.monotonic() - checked > self.topic_check_seconds:
                        self._check_identity(admin)
                        checked = time.monotonic()
                    rows = self._next_rows(conn)
                    if rows:
                        self._store(conn, self._publish(producer, rows))
                        if self.ringer is not None:
                            self.ringer.produced()
                        continue
                    # Idle, it wakes for a commit's NOTIFY, an owed ring or the next identity
                    # check only (a 0.25 s poll was four queries a second with nothing to do).
                    wait = self.topic_check_seconds - (time.monotonic() - checked)
                    due = self.ringer.due_in() if self.ringer is not None else None
                    if due is not None:
                        wait = min(wait, due)
                    for _ in listener.notifies(timeout=max(wait, 0.001), stop_after=1):
                        break
                    if self.ringer is not None:
                        self.ringer.settle()
        finally:
            producer.flush(5)

    def _align(self, conn: psycopg.Connection[Any], admin: AdminClient) -> None:
        """Make the stored position true of the topic found on the broker."""
        ensure_topics(self.bootstrap, self.topic, dead_letter_topic(self.topic), admin=admin)
        found = topic_identity(admin, self.topic)
        stored = self._stored(conn)
        if stored.topic_id is not None and stored.topic_id == found:
            self.published = self._beyond(stored)
            if self.published != stored:
                log.info(
                    "found events published by an earlier relay; continuing after them",
                    topic=self.topic,
                    position=self.published.position,
                )
                self._store(conn, self.published)
            return
        if stored.position > 0:
            log.warning(
                "the topic does not hold what was published (the broker lost it, or it was "
                "recreated); publishing the event store again from the start",
                topic=self.topic,
                stored_position=stored.position,
            )
            self.republished += 1
        if any(True for _ in read_to_end(self.bootstrap, self.topic, 0)):
            # Whatever it holds is not a prefix of the log: start a fresh topic so the
            # offsets are the event store's again.
            delete_topic(admin, self.topic)
            ensure_topics(self.bootstrap, self.topic, admin=admin)
            found = topic_identity(admin, self.topic)
        self._store(conn, Published(0, -1, found))

    def _beyond(self, stored: Published) -> Published:
        last = stored
        for message in read_to_end(self.bootstrap, self.topic, stored.offset + 1):
            position = header(headers_of(message), "position")
            last = Published(int(position or 0), message.offset() or 0, stored.topic_id)
        return last

    def _check_identity(self, admin: AdminClient) -> None:
        found = topic_identity(admin, self.topic)
        if found != self.published.topic_id:
            raise TopicChangedError(f"topic id {self.published.topic_id} is now {found}")

    def _stored(self, conn: psycopg.Connection[Any]) -> Published:
        row = conn.execute(
            "SELECT position, kafka_offset, topic_id FROM bsdflow_ops.relay_position "
            "WHERE topic = %s",
            (self.topic,),
        ).fetchone()
        return Published(int(row[0]), int(row[1]), row[2]) if row else Published()

    def _store(self, conn: psycopg.Connection[Any], published: Published) -> None:
        conn.execute(
            "INSERT INTO bsdflow_ops.relay_position (topic, position, kafka_offset, topic_id) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (topic) DO UPDATE SET "
            "position = EXCLUDED.position, kafka_offset = EXCLUDED.kafka_offset, "
            "topic_id = EXCLUDED.topic_id, updated_at = now()",
            (self.topic, published.position, published.offset, published.topic_id),
        )
        self.published = published

    def _next_rows(self, conn: psycopg.Connection[Any]) -> list[StoredRow]:
        return events_after(conn, self.published.position, self.batch_size)

    def _publish(self, producer: Producer, rows: list[StoredRow]) -> Published:
        """Publish rows after the stored position; the new position once all are delivered."""
        failures: list[str] = []
        offsets: list[int] = []

        def delivered(err: Any, message: Any) -> None:
            if err is not None:
                failures.append(str(err))
            else:
                offsets.append(message.offset())

        previous = self.published.position
        for position, originator_id, version, event_type, state in rows:
            meta = read_metadata(state)
            headers: list[tuple[str, str | bytes | None]] = [
                ("event_type", event_type.encode()),
                ("position", str(position).encode()),
                (PREVIOUS, str(previous).encode()),
                ("originator_version", str(version).encode()),
                ("tenant_id", meta.get("tenant_id", "").encode()),
                ("correlation_id", meta.get("correlation_id", "").encode()),
                ("causation_id", meta.get("causation_id", "").encode()),
            ]
            previous = position
            while True:
                try:
                    producer.produce(
                        self.topic,
                        state,
                        str(originator_id).encode(),
                        headers=headers,
                        on_delivery=delivered,
                    )
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
        remaining = producer.flush(30)
        if remaining or failures:
            raise DeliveryFailedError(f"{remaining} undelivered, errors: {failures[:3]}")
        expected = list(range(self.published.offset + 1, self.published.offset + 1 + len(rows)))
        if sorted(offsets) != expected:
            raise TopicChangedError(
                f"batch landed at offsets {offsets[0]}… instead of {expected[0]}…"
            )
        return Published(int(rows[-1][0]), expected[-1], self.published.topic_id)

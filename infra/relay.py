"""The outbox relay: tails the event store's notification log and publishes each event to Kafka.

Order and delivery: events are read in notification-id order and produced with the idempotent
producer; the relay's position is stored only after every delivery report of a batch is
positive. LISTEN/NOTIFY wakes it as soon as a command commits; a short poll covers lost wake-ups.
Kafka is a transport: if the broker lost the topic (the embedded broker keeps it in memory), the
relay recreates it and publishes again from the start, reproducing the same offsets.
One relay runs at a time (a PostgreSQL advisory lock); a second instance waits for it.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import structlog
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from commands.transcoding import read_metadata
from infra.kafka import EVENTS_TOPIC, dead_letter_topic, ensure_topics, producer_config

log = structlog.get_logger("bsdflow.relay")
LEADER_LOCK = 727_100
POSITION_DDL = """
CREATE SCHEMA IF NOT EXISTS bsdflow_ops;
CREATE TABLE IF NOT EXISTS bsdflow_ops.relay_position (
    topic text PRIMARY KEY,
    position bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
"""


class DeliveryFailedError(Exception):
    pass


class Relay:
    def __init__(
        self,
        database_url: str,
        bootstrap: str,
        events_table: str = "bsdflow_events",
        topic: str = EVENTS_TOPIC,
        batch_size: int = 2_000,
        topic_check_seconds: float = 1.0,
    ) -> None:
        self.database_url = database_url
        self.bootstrap = bootstrap
        self.events_table = events_table
        self.topic = topic
        self.batch_size = batch_size
        self.topic_check_seconds = topic_check_seconds
        self.position = 0
        self.is_leader = threading.Event()
        self._admin: AdminClient | None = None

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
                    except Exception:  # broker or database trouble: retry, keep the lead
                        log.exception("relay failed; retrying")
                        stop.wait(1.0)
            finally:
                self.is_leader.clear()

    def _lead(self, stop: threading.Event) -> None:
        producer = Producer(producer_config(self.bootstrap))
        # Kept for the lead: checked every `topic_check_seconds`, a new client each time
        # blocked the relay ≈ 55 ms a second, and commits in that window waited for it.
        self._admin = AdminClient({"bootstrap.servers": self.bootstrap})
        with (
            psycopg.connect(self.database_url, autocommit=True) as conn,
            psycopg.connect(self.database_url, autocommit=True) as listener,
        ):
            conn.execute(POSITION_DDL)
            listener.execute(f"LISTEN {self.events_table}")
            self.position = self._stored_position(conn)
            self._check_topic(conn)
            checked = time.monotonic()
            while not stop.is_set():
                if time.monotonic() - checked > self.topic_check_seconds:
                    self._check_topic(conn)
                    checked = time.monotonic()
                rows = self._next_rows(conn)
                if rows:
                    self._publish(producer, rows)
                    self._store_position(conn, rows[-1][0])
                    continue
                for _ in listener.notifies(timeout=0.25, stop_after=1):
                    break
        producer.flush(5)

    def _check_topic(self, conn: psycopg.Connection[Any]) -> None:
        if (
            ensure_topics(
                self.bootstrap, self.topic, dead_letter_topic(self.topic), admin=self._admin
            )
            and self.position > 0
        ):
            log.warning("topic was missing on the broker; publishing again from the start")
            self._store_position(conn, 0)

    def _stored_position(self, conn: psycopg.Connection[Any]) -> int:
        row = conn.execute(
            "SELECT position FROM bsdflow_ops.relay_position WHERE topic = %s", (self.topic,)
        ).fetchone()
        return int(row[0]) if row else 0

    def _store_position(self, conn: psycopg.Connection[Any], position: int) -> None:
        conn.execute(
            "INSERT INTO bsdflow_ops.relay_position (topic, position) VALUES (%s, %s) "
            "ON CONFLICT (topic) DO UPDATE SET position = EXCLUDED.position, updated_at = now()",
            (self.topic, position),
        )
        self.position = position

    def _next_rows(self, conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
        return conn.execute(
            f"SELECT notification_id, originator_id, originator_version, topic, state "  # noqa: S608
            f"FROM {self.events_table} WHERE notification_id > %s "
            "ORDER BY notification_id LIMIT %s",
            (self.position, self.batch_size),
        ).fetchall()

    def _publish(self, producer: Producer, rows: list[tuple[Any, ...]]) -> None:
        failures: list[str] = []

        def delivered(err: Any, _msg: Any) -> None:
            if err is not None:
                failures.append(str(err))

        for position, originator_id, version, event_type, state in rows:
            meta = read_metadata(bytes(state))
            headers = [
                ("event_type", event_type.encode()),
                ("position", str(position).encode()),
                ("originator_version", str(version).encode()),
                ("tenant_id", meta.get("tenant_id", "").encode()),
                ("correlation_id", meta.get("correlation_id", "").encode()),
                ("causation_id", meta.get("causation_id", "").encode()),
            ]
            while True:
                try:
                    producer.produce(
                        self.topic, bytes(state), str(originator_id).encode(), headers=headers,
                        on_delivery=delivered,
                    )  # fmt: skip
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
        remaining = producer.flush(30)
        if remaining or failures:
            raise DeliveryFailedError(f"{remaining} undelivered, errors: {failures[:3]}")

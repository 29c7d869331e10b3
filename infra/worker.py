"""A projection worker: consumes the events topic in batches and applies them to one projection.

Each batch commits in one PostgreSQL transaction with the projection's checkpoint; Kafka offsets
are committed only after that. On assignment the worker seeks to the offset of the last applied
event and checks that the message there carries the checkpoint's position; if not, the broker's
log is not the one the checkpoint was taken on (it lost its data and was refilled), so the worker
reads from the beginning and the checkpoint skips what was already applied.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any, cast
from uuid import UUID

import psycopg
import redis
import structlog
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)

from infra.kafka import (
    EVENTS_TOPIC,
    PARTITIONS,
    consumer_config,
    dead_letter_topic,
    ensure_topics,
    header,
    partition_count,
    producer_config,
)
from projections.base import Projection, decode_event
from projections.notify import (
    POSITIONS_CHANNEL,
    Change,
    changes_channel,
    encode_changes,
    position_message,
)
from projections.runtime import BatchResult, Delivered, apply_batch, checkpoint

log = structlog.get_logger("bsdflow.worker")


def delivered_from(message: Message) -> Delivered:
    headers = cast("list[tuple[str, bytes]] | None", message.headers())
    key = message.key()
    assert key is not None
    event = decode_event(
        int(header(headers, "position") or 0),
        UUID(key.decode()),
        int(header(headers, "originator_version") or 0),
        header(headers, "event_type") or "",
        message.value() or b"{}",
    )
    return Delivered(event, message.topic() or "", message.partition() or 0, message.offset() or 0)


class ProjectionWorker:
    def __init__(
        self,
        projection: Projection,
        database_url: str,
        bootstrap: str,
        redis_client: redis.Redis,
        topic: str = EVENTS_TOPIC,
        batch_size: int = 1_000,
        group: str | None = None,
        announce: bool = True,
    ) -> None:
        self.projection = projection
        self.database_url = database_url
        self.bootstrap = bootstrap
        self.redis = redis_client
        self.topic = topic
        self.batch_size = batch_size
        self.position = 0
        self.delivered = 0  # messages consumed since start, applied or skipped
        self.group = group or f"{topic}.projection.{projection.name}"
        self.announce = announce
        """Publish changes and positions (read models do; the reactor has nothing to announce)."""
        self._validate: dict[int, int] = {}  # partition → checkpoint position to find first

    def run(self, stop: threading.Event) -> None:
        # Create the topic before subscribing: a broker may otherwise auto-create it with its
        # own default partition count, and the checkpoint design needs exactly one.
        ensure_topics(self.bootstrap, self.topic, dead_letter_topic(self.topic))
        partitions = partition_count(self.bootstrap, self.topic)
        if partitions != PARTITIONS:
            raise RuntimeError(
                f"topic {self.topic} has {partitions} partitions; bsdflow needs {PARTITIONS} "
                "(one ordered log; scale out by running projections in separate workers)"
            )
        consumer = Consumer(consumer_config(self.bootstrap, self.group))
        dead_letters = Producer(producer_config(self.bootstrap))
        with psycopg.connect(self.database_url) as conn:
            conn.autocommit = True
            self.position = checkpoint(conn, self.projection.schema)[0]
            log.info("worker joining", projection=self.projection.name, group=self.group,
                     position=self.position)  # fmt: skip
            consumer.subscribe([self.topic], on_assign=lambda c, ps: self._on_assign(conn, c, ps))
            try:
                while not stop.is_set():
                    batch = self._usable(consumer, self._next_messages(consumer))
                    if batch:
                        self._apply(conn, consumer, dead_letters, batch)
            finally:
                consumer.close()
                dead_letters.flush(5)

    def _next_messages(self, consumer: Consumer) -> list[Message]:
        """Wait for one message, then take only what the client has already fetched.

        `consume(n, timeout)` returns early only once n messages arrived: at any rate below
        the batch size every batch waited the whole timeout (measured: +100 ms per event).
        Batches still grow by themselves while an apply is slower than the arrivals.
        """
        first = consumer.poll(0.1)
        if first is None:
            return []
        return [first, *consumer.consume(self.batch_size - 1, timeout=0)]

    def _on_assign(
        self, conn: psycopg.Connection[Any], consumer: Consumer, partitions: list[TopicPartition]
    ) -> None:
        for tp in partitions:
            position, offset = checkpoint(conn, self.projection.schema, tp.partition)
            if offset >= 0:
                tp.offset = offset
                self._validate[tp.partition] = position
            else:
                tp.offset = OFFSET_BEGINNING
        consumer.assign(partitions)
        # str keys: the JSON log renderer refuses int keys, and `poll` (unlike `consume`)
        # raises what a callback raised, which would restart the worker.
        log.info(
            "partitions assigned",
            projection=self.projection.name,
            offsets={str(tp.partition): tp.offset for tp in partitions},
        )

    def _usable(self, consumer: Consumer, messages: list[Message]) -> list[Delivered]:
        batch: list[Delivered] = []
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("consume error", error=str(error))
                continue
            delivered = delivered_from(message)
            expected = self._validate.pop(delivered.partition, None)
            if expected is not None and delivered.event.position != expected:
                log.warning(
                    "broker log differs from checkpoint; reading from the beginning",
                    projection=self.projection.name,
                    expected=expected,
                    found=delivered.event.position,
                )
                consumer.seek(TopicPartition(self.topic, delivered.partition, OFFSET_BEGINNING))
                return []
            batch.append(delivered)
        self.delivered += len(batch)
        return batch

    def _apply(
        self,
        conn: psycopg.Connection[Any],
        consumer: Consumer,
        dead_letters: Producer,
        batch: list[Delivered],
    ) -> None:
        by_partition: dict[int, list[Delivered]] = defaultdict(list)
        for delivered in batch:
            by_partition[delivered.partition].append(delivered)
        for partition, items in by_partition.items():
            result = apply_batch(conn, self.projection, items)
            consumer.commit(
                offsets=[TopicPartition(self.topic, partition, items[-1].offset + 1)],
                asynchronous=True,
            )
            self._park(dead_letters, result)
            if self.announce:
                self._announce(items, result)
            # Advanced last: whoever waits on `position` also finds stale cache entries gone.
            self.position = max(self.position, result.position)

    def _park(self, producer: Producer, result: BatchResult) -> None:
        for parked in result.parked:
            event = parked.delivered.event
            log.error("event parked", projection=self.projection.name, position=event.position,
                      error=parked.error)  # fmt: skip
            producer.produce(
                dead_letter_topic(self.topic),
                key=str(event.originator_id).encode(),
                value=parked.error.encode(),
                headers=[
                    ("projection", self.projection.name.encode()),
                    ("position", str(event.position).encode()),
                    ("event_type", event.type.encode()),
                    ("original_offset", str(parked.delivered.offset).encode()),
                ],
            )
        producer.poll(0)

    def _announce(self, items: list[Delivered], result: BatchResult) -> None:
        """After the commit: tell subscribers what changed and drop stale cache entries."""
        changes = []
        for delivered in items:
            event = delivered.event
            found = self.projection.change_of(event)
            if found is not None:
                kind, object_id = found
                changes.append(Change(kind, event.tenant_id, object_id, event.name, event.position))
        pipe = self.redis.pipeline(transaction=False)
        stale = [key for change in changes for key in change.cache_keys]
        if stale:
            pipe.delete(*stale)
        by_tenant: dict[UUID, list[Change]] = defaultdict(list)
        for change in changes:
            by_tenant[change.tenant_id].append(change)
        for tenant_id, announced in by_tenant.items():
            pipe.publish(changes_channel(tenant_id), encode_changes(announced))
        pipe.publish(POSITIONS_CHANNEL, position_message(self.projection.name, result.position))
        pipe.execute()

"""A projection worker: consumes the events topic in batches and applies them to one projection.

Each batch commits in one PostgreSQL transaction with the projection's checkpoint; Kafka offsets
are committed only after that. The checkpoint (position, offset, topic identity) decides where
to read, never the broker's stored group offsets: on assignment the worker seeks just past the
checkpoint's offset if the topic is the incarnation the checkpoint was taken on, and to the
start otherwise (the broker lost its data and the relay refilled it), where the position check
skips what was already applied. Every message names the position before it on its partition;
one whose predecessor is past the checkpoint reveals a gap, and the worker reads that partition
again from the start rather than skip an event.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any
from uuid import UUID

import psycopg
import redis
import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from infra.doorbell import Doorbell, Drowsiness
from infra.kafka import (
    EVENTS_TOPIC,
    PARTITIONS,
    PREVIOUS,
    consumer_config,
    dead_letter_topic,
    ensure_topics,
    header,
    headers_of,
    partition_count,
    producer_config,
    topic_identity,
)
from projections.base import Projection, RecordedEvent, decode_event
from projections.notify import (
    POSITIONS_CHANNEL,
    Change,
    changes_channel,
    encode_changes,
    position_message,
)
from projections.runtime import BatchResult, Delivered, apply_batch, checkpoint_of

log = structlog.get_logger("bsdflow.worker")
IDENTITY_CHECK_SECONDS = 2.0
OFFSET_COMMIT_SECONDS = 1.0
"""Kafka offsets are committed at most this often while busy, and when the worker runs dry.
They only inform tools (the checkpoint decides where to read); one commit per batch was one
broker request per event per projection at low rates."""


def delivered_from(message: Message, topic_id: str | None = None) -> Delivered:
    """The message as the projection runtime takes it; an undecodable one arrives with empty
    data, so handlers refuse it and it is parked like any poison event, not crash the worker."""
    headers = headers_of(message)
    position = int(header(headers, "position") or 0)
    key = message.key()
    event_type = header(headers, "event_type") or ""
    version = int(header(headers, "originator_version") or 0)
    try:
        event = decode_event(
            position, UUID((key or b"").decode()), version, event_type, message.value() or b"{}"
        )
    except ValueError:  # orjson's decode error and a malformed UUID key are ValueErrors
        event = RecordedEvent(position, UUID(int=0), version, event_type, {}, {})
    return Delivered(
        event, message.topic() or "", message.partition() or 0, message.offset() or 0, topic_id
    )


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
        doorbell: Doorbell | None = None,
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
        self.drowsiness = Drowsiness(doorbell, (topic,))
        self.topic_id: str | None = None
        self.rereads = 0  # partitions read again from the start (new topic, or a gap)
        self._known: dict[int, int] = {}  # partition → last position applied or being applied
        self._lost = False
        self._to_commit: dict[int, int] = {}  # partition → next offset, applied, not committed
        self._committed_at = self._checkpointed_at = 0.0
        self._unwritten: dict[int, Delivered] = {}
        """partition → the last event of batches that concern this projection in no way, whose
        checkpoint is not written yet (written with the next batch that does, or in time)."""

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
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        dead_letters = Producer(producer_config(self.bootstrap))
        # One consumer for the worker's life, also across a broker restart: librdkafka joins
        # the group again by itself and `_on_assign` positions it, whereas a new consumer in a
        # group the restarted broker saw the old one rejoin was never assigned (Tansu).
        consumer = Consumer(consumer_config(self.bootstrap, self.group))
        try:
            with psycopg.connect(self.database_url) as conn:
                conn.autocommit = True
                self.position = checkpoint_of(conn, self.projection.schema).position
                self.topic_id = topic_identity(admin, self.topic)
                log.info("worker joining", projection=self.projection.name, group=self.group,
                         position=self.position)  # fmt: skip
                consumer.subscribe(
                    [self.topic],
                    on_assign=lambda c, ps: self._on_assign(conn, admin, c, ps),
                    on_lost=lambda _c, _ps: self._mark_lost(),
                )
                self._consume(conn, admin, consumer, dead_letters, stop)
        finally:
            self._commit_offsets(consumer, now=True)
            consumer.close()
            dead_letters.flush(5)

    def _consume(
        self,
        conn: psycopg.Connection[Any],
        admin: AdminClient,
        consumer: Consumer,
        dead_letters: Producer,
        stop: threading.Event,
    ) -> None:
        checked = time.monotonic()
        while not stop.is_set():
            messages = self._next_messages(consumer)
            if not messages:
                self._write_checkpoints(conn, now=True)
                self._commit_offsets(consumer, now=True)
                if self._lost or time.monotonic() - checked > IDENTITY_CHECK_SECONDS:
                    self._follow_topic(conn, admin, consumer)
                    checked = time.monotonic()
                messages = self.drowsiness.rest_if_idle(consumer, stop)
            batch = self._usable(consumer, messages)
            if batch:
                self.drowsiness.busy()
                self._apply(conn, consumer, dead_letters, batch)
        self._write_checkpoints(conn, now=True)

    def _mark_lost(self) -> None:
        self._lost = True

    def _follow_topic(
        self, conn: psycopg.Connection[Any], admin: AdminClient, consumer: Consumer
    ) -> None:
        """The broker restarted empty, or the topic was recreated: make sure it exists (the
        relay, finding a new topic id, publishes the log into it again) and read it from
        where the checkpoints say."""
        self._lost = False
        ensure_topics(self.bootstrap, self.topic, dead_letter_topic(self.topic), admin=admin)
        found = topic_identity(admin, self.topic)
        if found == self.topic_id:
            return
        log.warning("topic changed; reading it from the start", projection=self.projection.name,
                    was=self.topic_id, now=found)  # fmt: skip
        self.topic_id = found
        for tp in self._positioned(conn, consumer.assignment()):
            consumer.seek(tp)

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
        self,
        conn: psycopg.Connection[Any],
        admin: AdminClient,
        consumer: Consumer,
        partitions: list[TopicPartition],
    ) -> None:
        self.topic_id = topic_identity(admin, self.topic)
        positioned = self._positioned(conn, partitions)
        consumer.assign(positioned)
        # str keys: the JSON log renderer refuses int keys, and `poll` (unlike `consume`)
        # raises what a callback raised, which would restart the worker.
        log.info(
            "partitions assigned",
            projection=self.projection.name,
            topic_id=self.topic_id,
            offsets={str(tp.partition): tp.offset for tp in positioned},
        )

    def _positioned(
        self, conn: psycopg.Connection[Any], partitions: list[TopicPartition]
    ) -> list[TopicPartition]:
        """Where to read each partition: just past the checkpoint in the topic it was taken
        on, else from the start. Explicit offsets only: the embedded broker answers offset
        lookups wrongly, so neither OFFSET_BEGINNING nor group offsets survive its restart."""
        found = []
        for tp in partitions:
            at = checkpoint_of(conn, self.projection.schema, tp.partition)
            self._known[tp.partition] = at.position
            same_log = at.topic_id is not None and at.topic_id == self.topic_id
            offset = at.offset + 1 if same_log and at.offset >= 0 else 0
            if offset == 0 and at.position > 0:
                self.rereads += 1
            found.append(TopicPartition(self.topic, tp.partition, offset))
        return found

    def _usable(self, consumer: Consumer, messages: list[Message]) -> list[Delivered]:
        batch: list[Delivered] = []
        broken: set[int] = set()
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("consume error", error=str(error))
                continue
            partition = message.partition() or 0
            if partition in broken:
                continue
            delivered = delivered_from(message, self.topic_id)
            known = self._known.get(partition, 0)
            previous = header(headers_of(message), PREVIOUS)
            position = delivered.event.position
            if position > known and previous is not None and int(previous) > known:
                log.warning(
                    "gap in the log (an event between is missing); reading the partition again",
                    projection=self.projection.name, partition=partition, applied=known,
                    previous=int(previous), found=position,
                )  # fmt: skip
                consumer.seek(TopicPartition(self.topic, partition, 0))
                self.rereads += 1
                broken.add(partition)
                continue
            self._known[partition] = max(known, position)
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
            if any(self.projection.concerns(d.event) for d in items):
                result = apply_batch(conn, self.projection, items)
                self._unwritten.pop(partition, None)
                self._to_commit[partition] = items[-1].offset + 1
            else:
                # Nothing to write: a transaction per batch only to move the checkpoint cost
                # each projection a commit for every event of others (most events concern
                # two or three of ten). Replaying them after a crash writes nothing either.
                last = max(self.position, items[-1].event.position)
                result = BatchResult(0, len(items), last, [])
                self._unwritten[partition] = items[-1]
            self._park(dead_letters, result)
            if self.announce:
                self._announce(items, result)
            # Advanced last: whoever waits on `position` also finds stale cache entries gone.
            self.position = max(self.position, result.position)
        self._write_checkpoints(conn)
        self._commit_offsets(consumer)

    def _write_checkpoints(self, conn: psycopg.Connection[Any], *, now: bool = False) -> None:
        """Write the checkpoints batches of unconcerning events left unwritten (throttled)."""
        if not self._unwritten:
            return
        if not now and time.monotonic() - self._checkpointed_at < OFFSET_COMMIT_SECONDS:
            return
        for partition, last in list(self._unwritten.items()):
            apply_batch(conn, self.projection, [last])  # writes nothing but the checkpoint
            self._to_commit[partition] = last.offset + 1
        self._unwritten.clear()
        self._checkpointed_at = time.monotonic()

    def _commit_offsets(self, consumer: Consumer, *, now: bool = False) -> None:
        """Commit what was applied (only ever after its DB commit), throttled while busy."""
        if not self._to_commit:
            return
        if not now and time.monotonic() - self._committed_at < OFFSET_COMMIT_SECONDS:
            return
        offsets = [TopicPartition(self.topic, p, o) for p, o in self._to_commit.items()]
        self._to_commit.clear()
        self._committed_at = time.monotonic()
        try:
            consumer.commit(offsets=offsets, asynchronous=True)
        except (KafkaException, RuntimeError) as exc:  # not assigned, or closed: harmless
            log.info("offsets not committed", projection=self.projection.name, error=str(exc))

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

"""A projection worker: one Kafka consumer feeding one or more projections, in batches.

Each message is fetched and decoded once for all the worker's projections (one consumer per
projection cost the broker a fetch, and the process a decode, per event per projection). Each
projection applies a batch in one PostgreSQL transaction with its own checkpoint; Kafka offsets
are committed only after that, and only inform tools. The checkpoints (position, offset, topic
identity) decide where to read: on assignment the worker seeks just past the lowest of its
projections' checkpoint offsets if the topic is the incarnation they were taken on, and to the
start otherwise (the broker lost its data and the relay refilled it); each projection skips by
position what it already applied. Every message names the position before it on its
partition; one whose predecessor is past what was read reveals a gap, and the worker reads that
partition again from the start rather than skip an event.

After each batch the worker makes one announcement on Redis for all its projections: the
changed objects per tenant, and every projection's position in one message.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
import redis
import structlog
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from eventstore import RecordedEvent, decode_event
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
from projections.base import Projection
from projections.notify import (
    POSITIONS_CHANNEL,
    Change,
    changes_channel,
    encode_changes,
    positions_message,
)
from projections.runtime import BatchResult, Delivered, apply_batch, apply_together, checkpoint_of

log = structlog.get_logger("bsdflow.worker")
IDENTITY_CHECK_SECONDS = 2.0
OFFSET_COMMIT_SECONDS = 1.0
"""Kafka offsets are committed at most this often while busy, and when the worker runs dry.
They only inform tools (the checkpoint decides where to read); one commit per batch was one
broker request per event at low rates. Unwritten checkpoints (below) follow the same pace."""


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


def group_of(topic: str, projections: Sequence[Projection]) -> str:
    """Workers running the same projections share one consumer group."""
    names = sorted(p.name for p in projections)
    if len(names) == 1:
        return f"{topic}.projection.{names[0]}"
    return f"{topic}.projections.{'+'.join(names)}"


@dataclass(eq=False)
class Track:
    """One projection's progress inside a worker."""

    projection: Projection
    position: int = 0
    """The last position applied (or known to concern it in no way), announced to readers."""
    durable: dict[int, int] = field(default_factory=dict)
    """partition → the offset after the last message whose checkpoint is written."""
    unwritten: dict[int, Delivered] = field(default_factory=dict)
    """partition → the last event of batches that concern this projection in no way, whose
    checkpoint is not written yet (written with the next batch that does, or in time)."""


class ProjectionWorker:
    def __init__(
        self,
        projections: Projection | Sequence[Projection],
        database_url: str,
        bootstrap: str,
        redis_client: redis.Redis,
        topic: str = EVENTS_TOPIC,
        batch_size: int = 1_000,
        group: str | None = None,
        announce: bool = True,
        doorbell: Doorbell | None = None,
    ) -> None:
        chosen = [projections] if isinstance(projections, Projection) else list(projections)
        if not chosen:
            raise ValueError("a projection worker needs at least one projection")
        self.tracks = [Track(p) for p in chosen]
        self.database_url = database_url
        self.bootstrap = bootstrap
        self.redis = redis_client
        self.topic = topic
        self.batch_size = batch_size
        self.delivered = 0  # messages consumed since start, applied or skipped
        self.group = group or group_of(topic, chosen)
        self.announce = announce
        """Publish changes and positions (read models do; the reactor has nothing to announce)."""
        self.drowsiness = Drowsiness(doorbell, (topic,))
        self.topic_id: str | None = None
        self.rereads = 0  # partitions read again from the start (new topic, or a gap)
        self._read: dict[int, int] = {}  # partition → the highest position read
        self._lost = False
        self._committed_at = self._checkpointed_at = 0.0
        self._unannounced_checkpoints = False

    @property
    def projections(self) -> list[Projection]:
        return [track.projection for track in self.tracks]

    @property
    def positions(self) -> dict[str, int]:
        return {track.projection.name: track.position for track in self.tracks}

    @property
    def position(self) -> int:
        """The position every projection of this worker has reached."""
        return min(track.position for track in self.tracks)

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
                for track in self.tracks:
                    track.position = checkpoint_of(conn, track.projection.schema).position
                self.topic_id = topic_identity(admin, self.topic)
                log.info("worker joining", group=self.group, positions=self.positions)
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
                if self._unannounced_checkpoints and self.announce:
                    # A reader that started after the last announcement may have read the
                    # checkpoint tables before these rows were written: tell it again.
                    self._publish_positions()
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
        log.warning(
            "topic changed; reading it from the start",
            group=self.group,
            was=self.topic_id,
            now=found,
        )
        self.topic_id = found
        positioned = self._positioned(conn, consumer.assignment())
        for tp in positioned:
            consumer.seek(tp)
        self.drowsiness.reading_from(consumer, positioned)

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
        # A partition taken back while paused (a rebalance during a rest) stays paused.
        consumer.resume(positioned)
        self.drowsiness.reading_from(consumer, positioned)
        # str keys: the JSON log renderer refuses int keys, and `poll` (unlike `consume`)
        # raises what a callback raised, which would restart the worker.
        log.info(
            "partitions assigned",
            group=self.group,
            topic_id=self.topic_id,
            offsets={str(tp.partition): tp.offset for tp in positioned},
        )

    def _positioned(
        self, conn: psycopg.Connection[Any], partitions: list[TopicPartition]
    ) -> list[TopicPartition]:
        """Where to read each partition: just past the lowest checkpoint in the topic it was
        taken on, else from the start. Explicit offsets only: the embedded broker answers
        offset lookups wrongly, so neither OFFSET_BEGINNING nor group offsets survive its
        restart."""
        found = []
        for tp in partitions:
            offsets, positions = [], []
            for track in self.tracks:
                at = checkpoint_of(conn, track.projection.schema, tp.partition)
                same_log = at.topic_id is not None and at.topic_id == self.topic_id
                offsets.append(at.offset + 1 if same_log and at.offset >= 0 else 0)
                positions.append(at.position)
            offset = min(offsets)
            self._read[tp.partition] = min(positions)
            if offset == 0 and max(positions) > 0:
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
            read = self._read.get(partition, 0)
            previous = header(headers_of(message), PREVIOUS)
            position = delivered.event.position
            if position > read and previous is not None and int(previous) > read:
                log.warning(
                    "gap in the log (an event between is missing); reading the partition again",
                    group=self.group,
                    partition=partition,
                    read=read,
                    previous=int(previous),
                    found=position,
                )
                again = TopicPartition(self.topic, partition, 0)
                consumer.seek(again)
                self.drowsiness.reading_from(consumer, [again])
                self.rereads += 1
                broken.add(partition)
                continue
            self._read[partition] = max(read, position)
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
        reached = {track: track.position for track in self.tracks}
        for partition, items in by_partition.items():
            concerned = [
                t for t in self.tracks if any(t.projection.concerns(d.event) for d in items)
            ]
            if len(concerned) > 1:
                results = apply_together(conn, [t.projection for t in concerned], items)
            else:
                results = [apply_batch(conn, t.projection, items) for t in concerned]
            for track, result in zip(concerned, results, strict=True):
                track.unwritten.pop(partition, None)
                track.durable[partition] = items[-1].offset + 1
                self._park(dead_letters, track.projection, result)
                reached[track] = max(reached[track], result.position)
            for track in self.tracks:
                if track not in concerned:
                    # Nothing to write: a transaction per batch only to move the checkpoint
                    # cost each projection a commit for every event of others (most events
                    # concern two or three of ten). Replaying them after a crash writes
                    # nothing either.
                    track.unwritten[partition] = items[-1]
                    reached[track] = max(reached[track], items[-1].event.position)
        if self.announce:
            self._announce(batch, {t.projection.name: at for t, at in reached.items()})
        # Advanced last: whoever waits on a position also finds stale cache entries gone.
        for track, position in reached.items():
            track.position = position
        self._write_checkpoints(conn)
        self._commit_offsets(consumer)

    def _write_checkpoints(self, conn: psycopg.Connection[Any], *, now: bool = False) -> None:
        """Write the checkpoints batches of unconcerning events left unwritten (throttled)."""
        if not now and time.monotonic() - self._checkpointed_at < OFFSET_COMMIT_SECONDS:
            return
        if any(track.unwritten for track in self.tracks):
            self._unannounced_checkpoints = True
        for track in self.tracks:
            for partition, last in track.unwritten.items():
                apply_batch(conn, track.projection, [last])  # writes nothing but the checkpoint
                track.durable[partition] = last.offset + 1
            track.unwritten.clear()
        self._checkpointed_at = time.monotonic()

    def _publish_positions(self) -> None:
        self._unannounced_checkpoints = False
        self.redis.publish(POSITIONS_CHANNEL, positions_message(self.positions))

    def _commit_offsets(self, consumer: Consumer, *, now: bool = False) -> None:
        """Commit, per partition, what every projection has applied (only after its DB
        commit), throttled while busy."""
        if not now and time.monotonic() - self._committed_at < OFFSET_COMMIT_SECONDS:
            return
        common = set.intersection(*(set(track.durable) for track in self.tracks))
        offsets = [
            TopicPartition(self.topic, p, min(t.durable[p] for t in self.tracks)) for p in common
        ]
        for track in self.tracks:
            track.durable.clear()
        self._committed_at = time.monotonic()
        if not offsets:
            return
        try:
            consumer.commit(offsets=offsets, asynchronous=True)
        except (KafkaException, RuntimeError) as exc:  # not assigned, or closed: harmless
            log.info("offsets not committed", group=self.group, error=str(exc))

    def _park(self, producer: Producer, projection: Projection, result: BatchResult) -> None:
        for parked in result.parked:
            event = parked.delivered.event
            log.error(
                "event parked",
                projection=projection.name,
                position=event.position,
                error=parked.error,
            )
            producer.produce(
                dead_letter_topic(self.topic),
                key=str(event.originator_id).encode(),
                value=parked.error.encode(),
                headers=[
                    ("projection", projection.name.encode()),
                    ("position", str(event.position).encode()),
                    ("event_type", event.type.encode()),
                    ("original_offset", str(parked.delivered.offset).encode()),
                ],
            )
        if result.parked:
            producer.poll(0)

    def _announce(self, batch: list[Delivered], positions: dict[str, int]) -> None:
        """After the commits, in one round trip: drop stale cache entries, tell subscribers
        what changed, then every projection's position. Several projections may announce the
        same object; it is announced once."""
        changes: dict[tuple[str, UUID, int], Change] = {}
        for delivered in batch:
            event = delivered.event
            for track in self.tracks:
                found = track.projection.change_of(event)
                if found is not None:
                    kind, object_id = found
                    change = Change(kind, event.tenant_id, object_id, event.name, event.position)
                    changes.setdefault((kind, object_id, event.position), change)
        pipe = self.redis.pipeline(transaction=False)
        stale = {key for change in changes.values() for key in change.cache_keys}
        if stale:
            pipe.delete(*stale)
        by_tenant: dict[UUID, list[Change]] = defaultdict(list)
        for change in changes.values():
            by_tenant[change.tenant_id].append(change)
        for tenant_id, announced in by_tenant.items():
            pipe.publish(changes_channel(tenant_id), encode_changes(announced))
        pipe.publish(POSITIONS_CHANNEL, positions_message(positions))
        pipe.execute()
        self._unannounced_checkpoints = False

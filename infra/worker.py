"""A projection worker: one Kafka consumer feeding one or more projections, in batches.

Each message is fetched and decoded once for all the worker's projections (one consumer per
projection cost the broker a fetch, and the process a decode, per event per projection). Each
projection applies a batch in one PostgreSQL transaction with its own checkpoint; Kafka offsets
are committed only after that, and only inform tools. The checkpoints (position, offset, topic
identity) decide where to read: at start the worker takes the partition (by assignment, not
group membership) just past the lowest of its projections' checkpoint offsets if the topic is
the incarnation they were taken on, and from the start otherwise (the broker lost its data and
the relay refilled it); each projection skips by
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
from typing import Any

import psycopg
import redis
import structlog
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from infra.doorbell import Doorbell, Drowsiness
from infra.kafka import (
    EVENTS_TOPIC,
    PARTITIONS,
    consumer_config,
    dead_letter_topic,
    ensure_topics,
    partition_count,
    producer_config,
)
from infra.readdb import DERIVED_WRITES
from infra.worker_positions import Positioning
from infra.worker_progress import Track
from infra.worker_publishing import Publishing
from projections.apply import Delivered, apply_batch, apply_together, checkpoint_of
from projections.base import Projection

log = structlog.get_logger("bsdflow.worker")
IDENTITY_CHECK_SECONDS = 2.0


def group_of(topic: str, projections: Sequence[Projection]) -> str:
    """Workers running the same projections share one consumer group."""
    names = sorted(p.name for p in projections)
    if len(names) == 1:
        return f"{topic}.projection.{names[0]}"
    return f"{topic}.projections.{'+'.join(names)}"


class ProjectionWorker(Positioning, Publishing):
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
        patience_ms: int = 0,
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
        self.patience_ms = patience_ms
        """How long the broker may hold a fetch to fill it: 0 answers at the first event."""
        # A look for lost rings must outlast one held fetch, or it never sees what it looks for.
        self.drowsiness = Drowsiness(doorbell, (topic,), recheck=max(0.1, 3 * patience_ms / 1000))
        self.topic_id: str | None = None
        self.rereads = 0  # partitions read again from the start (new topic, or a gap)
        self._read: dict[int, int] = {}  # partition → the highest position read
        self._committed_at = self._checkpointed_at = 0.0
        self._unannounced_checkpoints = False

    def run(self, stop: threading.Event) -> None:
        # Create the topic before reading: a broker may otherwise auto-create it with its
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
        # The log is one partition, so the worker takes it by assignment: no group to join
        # (a join round cost 3 s on the embedded broker, and a restarted broker could keep a
        # member that had left), and the checkpoints, not the group's offsets, say where to
        # read. Two workers of the same projections both read; the checkpoint lock makes the
        # second one's batches no-ops.
        config = consumer_config(self.bootstrap, self.group)
        if self.patience_ms:
            config |= {"fetch.wait.max.ms": self.patience_ms}
        consumer = Consumer(config)
        try:
            with psycopg.connect(self.database_url, options=DERIVED_WRITES) as conn:
                conn.autocommit = True
                for track in self.tracks:
                    track.position = checkpoint_of(conn, track.projection.schema).position
                log.info("worker starting", group=self.group, positions=self.positions)
                self._take(
                    conn,
                    admin,
                    consumer,
                    [TopicPartition(self.topic, p) for p in range(partitions)],
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
                if time.monotonic() - checked > IDENTITY_CHECK_SECONDS:
                    self._follow_topic(conn, admin, consumer)
                    checked = time.monotonic()
                messages = self.drowsiness.rest_if_idle(consumer, stop)
            batch = self._usable(consumer, messages)
            if batch:
                self.drowsiness.busy()
                self._apply(conn, consumer, dead_letters, batch)
        self._write_checkpoints(conn, now=True)

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

"""Where a projection worker reads: positioning at start, a new topic, gaps in the log."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
import structlog
from confluent_kafka import Consumer, KafkaError, Message, TopicPartition
from confluent_kafka.admin import AdminClient

from eventstore import RecordedEvent, decode_event
from infra.doorbell import Drowsiness
from infra.kafka import (
    PREVIOUS,
    dead_letter_topic,
    ensure_topics,
    header,
    headers_of,
    topic_identity,
)
from infra.worker_progress import Progress
from projections.apply import Delivered, checkpoint_of

log = structlog.get_logger("bsdflow.worker")


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


class Positioning(Progress):
    """Which offsets the worker reads from, and which of the messages read it may apply."""

    bootstrap: str
    topic_id: str | None
    drowsiness: Drowsiness
    rereads: int
    delivered: int
    _read: dict[int, int]

    def _follow_topic(
        self, conn: psycopg.Connection[Any], admin: AdminClient, consumer: Consumer
    ) -> None:
        """The broker restarted empty, or the topic was recreated: make sure it exists (the
        relay, finding a new topic id, publishes the log into it again) and read it from
        where the checkpoints say."""
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

    def _take(
        self,
        conn: psycopg.Connection[Any],
        admin: AdminClient,
        consumer: Consumer,
        partitions: list[TopicPartition],
    ) -> None:
        self.topic_id = topic_identity(admin, self.topic)
        positioned = self._positioned(conn, partitions)
        consumer.assign(positioned)
        self.drowsiness.reading_from(consumer, positioned)
        # str keys: the JSON log renderer refuses int keys, and `poll` (unlike `consume`)
        # raises what a callback raised, which would restart the worker.
        log.info(
            "reading partitions",
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

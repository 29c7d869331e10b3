"""Kafka settings in one place: topics, tuned client configs, message headers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, cast

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

EVENTS_TOPIC = "bsdflow.events"
PREVIOUS = "previous"
"""Header: the position of the message before this one on its partition (0 for the first)."""


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlt"


# One partition: the event store's order is kept end to end, and each projection's checkpoint
# is a single position. Projections scale out by running in separate workers.
PARTITIONS = 1


def producer_config(bootstrap: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 1,
        "compression.type": "none",
        "message.timeout.ms": 30_000,
        # Topics are created by bsdflow with one partition; a lost topic must stay missing
        # so the relay notices and publishes again from the start.
        "allow.auto.create.topics": False,
    }


def consumer_config(bootstrap: str, group: str) -> dict[str, Any]:
    # Short session/heartbeat so a group join takes ~3 s instead of ~23 s (measured on Tansu);
    # a small fetch wait keeps commit→read-model latency low. A shorter session (Tansu holds a
    # join for about half of it) was tried: a consumer then loses its partition when the
    # embedded broker restarts, and the restarted broker keeps it with the expired member.
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6_000,
        "heartbeat.interval.ms": 300,
        # Also the rebalance timeout: a member killed without leaving holds up a new join for
        # at most this long (300 s by default).
        "max.poll.interval.ms": 15_000,
        "fetch.wait.max.ms": 10,
        "fetch.min.bytes": 1,
        "allow.auto.create.topics": False,
    }


def _partitions(admin: AdminClient, topic: str, timeout: float) -> int:
    # List all topics: a metadata request naming the topic makes some brokers (Tansu)
    # auto-create it with their default partition count.
    found = admin.list_topics(timeout=timeout).topics.get(topic)
    return len(found.partitions) if found is not None and found.error is None else 0


def topic_exists(admin: AdminClient, topic: str, timeout: float = 5.0) -> bool:
    return _partitions(admin, topic, timeout) > 0


def ensure_topics(
    bootstrap: str, *topics: str, timeout: float = 10.0, admin: AdminClient | None = None
) -> bool:
    """Create missing topics; True if any had to be created (the broker had lost them).

    Pass `admin` to check often: a new client costs ≈ 55 ms (connect, metadata), a reused one
    ≈ 0.3 ms."""
    admin = admin or AdminClient({"bootstrap.servers": bootstrap})
    missing = [t for t in topics if not topic_exists(admin, t, timeout)]
    if not missing:
        return False
    futures = admin.create_topics(
        [NewTopic(t, num_partitions=PARTITIONS, replication_factor=1) for t in missing]
    )
    for future in futures.values():
        try:
            future.result(timeout)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    return True


def partition_count(bootstrap: str, topic: str, timeout: float = 5.0) -> int:
    return _partitions(AdminClient({"bootstrap.servers": bootstrap}), topic, timeout)


def topic_identity(admin: AdminClient, topic: str, timeout: float = 5.0) -> str | None:
    """The broker's id of the topic (a new one each time it is created); None if missing.

    What tells a log that was lost and refilled, or deleted and recreated, from the one a
    checkpoint or the relay's position was taken on: offsets alone cannot, they start again at 0.
    """
    try:
        described = admin.describe_topics(TopicCollection([topic]), request_timeout=timeout)
        return str(described[topic].result(timeout).topic_id)
    except KafkaException as exc:
        if exc.args and exc.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            return None
        raise


def delete_topic(admin: AdminClient, topic: str, timeout: float = 10.0) -> None:
    try:
        admin.delete_topics([topic], operation_timeout=timeout)[topic].result(timeout)
    except KafkaException as exc:
        if exc.args and exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
            raise


def read_to_end(
    bootstrap: str, topic: str, offset: int, partition: int = 0, timeout: float = 10.0
) -> Iterator[Message]:
    """The messages of one partition from `offset` to its current end, without a group.

    The end is the high-water mark of the fetch responses (partition EOF), which the embedded
    broker reports correctly (unlike ListOffsets, which it answers wrongly).
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{topic}.reader",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 10,
            "allow.auto.create.topics": False,
        }
    )
    try:
        consumer.assign([TopicPartition(topic, partition, offset)])
        deadline = time.monotonic() + timeout
        while True:
            message = consumer.poll(0.1)
            if message is None:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{topic}[{partition}] gave no end within {timeout} s")
                continue
            error = message.error()
            if error is None:
                deadline = time.monotonic() + timeout
                yield message
            elif error.code() == KafkaError._PARTITION_EOF:
                return
            else:
                raise KafkaException(error)
    finally:
        consumer.close()


def resume(consumer: Consumer, partitions: list[TopicPartition]) -> None:
    """Resume paused partitions and fetch at once.

    After a plain resume librdkafka's broker thread notices only on its next wake-up, 300 to
    750 ms later; any request through it wakes it now, and a metadata request is the cheapest
    (measured: resume → first message 1-2 ms)."""
    if not partitions:
        return
    consumer.resume(partitions)
    consumer.list_topics(timeout=2)


def header(headers: list[tuple[str, bytes]] | None, name: str) -> str | None:
    for key, value in headers or ():
        if key == name:
            return value.decode()
    return None


def headers_of(message: Message) -> list[tuple[str, bytes]] | None:
    return cast("list[tuple[str, bytes]] | None", message.headers())


def validation_topic(events_topic: str, name: str) -> str:
    """Request topic of one validation (`action`, `process-action`), beside its events topic."""
    return f"{events_topic}.validate.{name}"

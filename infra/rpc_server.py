"""The answering side of request-reply over Kafka: `RpcServer` and its replies."""

from __future__ import annotations

import time
from collections.abc import Mapping
from threading import Event
from typing import Any

import orjson
import structlog
from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from infra.doorbell import Doorbell, Drowsiness
from infra.kafka import (
    consumer_config,
    ensure_topics,
    header,
    headers_of,
    producer_config,
    topic_identity,
)
from infra.rpc import (
    CORRELATION_ID,
    DEADLINE,
    REPLY_TO,
    REQUEST_PRODUCER,
    Handler,
    next_batch,
)

log = structlog.get_logger("bsdflow.rpc")

# Replies are worth nothing once their caller has timed out, so the server gives up on them
# quickly: a reply topic that is gone fails after 2 s instead of librdkafka's 30 s, and every
# reply gets a delivery report (success or failure) before the flush that precedes a commit.
REPLY_PRODUCER = REQUEST_PRODUCER | {
    "message.timeout.ms": 10_000,
    "topic.metadata.propagation.max.ms": 2_000,
}
FLUSH_SECONDS = 15.0


class RpcServer:
    """KeptResponses requests on the registry's topics; one consumer group member per `run`."""

    def __init__(
        self,
        bootstrap: str,
        group: str,
        handlers: Mapping[str, Handler],
        batch_size: int = 100,
        doorbell: Doorbell | None = None,
    ) -> None:
        if not handlers:
            raise ValueError("RpcServer needs at least one handler")
        self.bootstrap = bootstrap
        self.group = group
        self.handlers = dict(handlers)
        self.batch_size = batch_size
        self.ready = Event()  # set once the group has given this member its partitions
        self.handled = 0
        self.drowsiness = Drowsiness(doorbell, tuple(self.handlers))
        self._identities: dict[str, str | None] = {}  # topic → the incarnation last read
        self._lost = False

    def run(self, stop: Event) -> None:
        ensure_topics(self.bootstrap, *self.handlers)
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        # One consumer for good, across broker restarts too: librdkafka joins again by itself,
        # and a new consumer in a group the restarted broker has seen is never assigned (Tansu).
        consumer = Consumer(consumer_config(self.bootstrap, self.group))
        producer = Producer(producer_config(self.bootstrap) | REPLY_PRODUCER)
        consumer.subscribe(
            list(self.handlers),
            on_assign=lambda c, ps: self._on_assign(admin, c, ps),
            on_lost=lambda _c, _ps: setattr(self, "_lost", True),
        )
        log.info("rpc server joining", group=self.group, topics=sorted(self.handlers))
        try:
            while not stop.is_set():
                batch = next_batch(consumer, self.batch_size)
                if not batch:
                    if self._lost:  # the broker restarted empty: its clients recreate their
                        self._lost = False  # topics, and so do we
                        ensure_topics(self.bootstrap, *self.handlers, admin=admin)
                    batch = [
                        m for m in self.drowsiness.rest_if_idle(consumer, stop) if not m.error()
                    ]
                if batch:
                    self.drowsiness.busy()
                    self._serve(consumer, producer, batch)
        finally:
            consumer.close()
            producer.flush(5)

    def _on_assign(
        self, admin: AdminClient, consumer: Consumer, partitions: list[TopicPartition]
    ) -> None:
        # Explicit offsets, the group's committed ones else 0 (old requests there are past
        # their deadline and skipped): the embedded broker's offset lookups are unreliable.
        try:
            stored = consumer.committed(partitions, timeout=10)
        except KafkaException as exc:  # closing, or the broker is gone: start from 0
            log.info("committed offsets unknown", group=self.group, error=str(exc))
            stored = []
        committed = {(tp.topic, tp.partition): tp.offset for tp in stored}
        for tp in partitions:
            found = topic_identity(admin, tp.topic)
            renewed = tp.topic in self._identities and self._identities[tp.topic] != found
            self._identities[tp.topic] = found
            # A new incarnation of a topic starts at 0, whatever the group remembers.
            tp.offset = 0 if renewed else max(committed.get((tp.topic, tp.partition), 0), 0)
        consumer.assign(partitions)
        consumer.resume(partitions)  # taken back while paused, a partition stays paused
        self.ready.set()
        log.info(
            "rpc server assigned",
            group=self.group,
            partitions=[(tp.topic, tp.partition) for tp in partitions],
        )

    def _serve(self, consumer: Consumer, producer: Producer, batch: list[Message]) -> None:
        for message in batch:
            self._answer(producer, message)
        remaining = producer.flush(FLUSH_SECONDS)
        if remaining:  # left uncommitted; a restart redelivers them
            log.error("replies not flushed; offsets not committed", remaining=remaining)
            return
        last: dict[tuple[str, int], int] = {}
        for message in batch:
            last[(message.topic() or "", message.partition() or 0)] = message.offset() or 0
        offsets = [TopicPartition(t, p, offset + 1) for (t, p), offset in last.items()]
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:  # e.g. a rebalance: the next owner answers them again
            log.warning("commit failed; requests may be answered twice", error=str(exc))

    def _answer(self, producer: Producer, message: Message) -> None:
        headers = headers_of(message)
        topic, correlation_id = message.topic() or "", header(headers, CORRELATION_ID)
        reply_to = header(headers, REPLY_TO)
        if not correlation_id or not reply_to:
            log.warning(
                "request without correlation_id/reply_to dropped",
                topic=topic,
                offset=message.offset(),
            )
            return
        if _expired(header(headers, DEADLINE)):
            log.info(
                "request past its deadline skipped", topic=topic, correlation_id=correlation_id
            )
            return
        reply = self._call(topic, message.value())
        self.handled += 1
        # No BufferError to expect: at most one batch of replies is queued between flushes.
        try:
            producer.produce(
                reply_to,
                reply,
                headers=[(CORRELATION_ID, correlation_id.encode())],
                on_delivery=_reply_reported,
            )
        except KafkaException as exc:  # the reply topic is known to be gone: its client left
            log.warning("reply not sent", reply_to=reply_to, error=str(exc))

    def _call(self, topic: str, value: bytes | None) -> bytes:
        try:
            request = orjson.loads(value or b"null")
            if not isinstance(request, dict):
                raise TypeError(f"a request must be a JSON object, got {type(request).__name__}")
            reply = self.handlers[topic](request)
            if not isinstance(reply, dict):
                raise TypeError(f"a handler must return a dict, got {type(reply).__name__}")
            return orjson.dumps(reply)
        except Exception as exc:
            log.exception("rpc handler failed", topic=topic)
            return orjson.dumps({"error": f"{type(exc).__name__}: {exc}"})


def _expired(deadline: str | None) -> bool:
    try:
        return deadline is not None and int(deadline) < time.time() * 1000
    except ValueError:
        return False


def _reply_reported(err: Any, message: Any) -> None:
    if err is not None:
        log.warning("reply not delivered", reply_to=message.topic(), error=str(err))

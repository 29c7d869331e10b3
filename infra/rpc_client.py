"""The request side of request-reply over Kafka: `RpcClient` and its reply listener."""

from __future__ import annotations

import asyncio
import time
import uuid
from concurrent.futures import Future, InvalidStateError
from threading import Event, Lock, Thread
from typing import Any

import orjson
import structlog
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from infra.doorbell import Doorbell
from infra.kafka import (
    consumer_config,
    ensure_topics,
    header,
    headers_of,
    producer_config,
    resume,
    topic_identity,
)
from infra.rpc import (
    CORRELATION_ID,
    DEADLINE,
    REPLY_TO,
    REQUEST_PRODUCER,
    Reply,
    RpcError,
    RpcTimeout,
    next_batch,
)

log = structlog.get_logger("bsdflow.rpc")

REPLY_TOPIC_CHECK_SECONDS = 1.0


def _settle(future: Future[Reply], result: Reply | BaseException) -> None:
    try:
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)
    except InvalidStateError:  # the caller gave up (timeout, cancellation) at the same moment
        pass


class RpcClient:
    """Sends requests and awaits their replies; safe to share between threads and event loops.

    Waiters are `concurrent.futures.Future`s keyed by correlation id: the listener thread settles
    them, `request` awaits them through `asyncio.wrap_future` (which hands the result to the
    caller's own loop with `call_soon_threadsafe`) and `request_sync` blocks on them.
    """

    def __init__(
        self,
        bootstrap: str,
        reply_topic_prefix: str = "bsdflow.rpc.replies",
        doorbell: Doorbell | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.reply_topic = f"{reply_topic_prefix}.{uuid.uuid4().hex}"
        self.doorbell = doorbell
        self.dropped = 0  # replies whose correlation id nobody waited for
        self.reply_topic_recreated = 0
        self._pending: dict[str, Future[Reply]] = {}
        self._lock = Lock()
        self._known_topics: set[str] = set()
        self._stop = Event()
        self._waiting = Event()  # set while a request awaits its reply: the listener fetches
        self._producer: Producer | None = None
        self._thread: Thread | None = None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def start(self) -> RpcClient:
        if self._thread is not None:
            return self
        ensure_topics(self.bootstrap, self.reply_topic)
        # A group id is required by the client library, but assign() never joins the group.
        # Offset 0 is the beginning of a fresh topic; OFFSET_BEGINNING would cost an offset
        # lookup that delays the first reply by ≈0.5 s on Tansu. Were 0 ever gone (retention),
        # auto.offset.reset=earliest takes over.
        consumer = Consumer(consumer_config(self.bootstrap, self.reply_topic))
        consumer.assign([TopicPartition(self.reply_topic, 0, 0)])
        self._reply_topic_id = topic_identity(
            AdminClient({"bootstrap.servers": self.bootstrap}), self.reply_topic
        )
        self._producer = Producer(producer_config(self.bootstrap) | REQUEST_PRODUCER)
        self._thread = Thread(
            target=self._listen, args=(consumer, self._producer), name="rpc-replies", daemon=True
        )
        self._thread.start()
        return self

    async def request(
        self,
        topic: str,
        payload: dict[str, Any],
        timeout: float = 5.0,  # noqa: ASYNC109 - it also sets the deadline sent to the server
    ) -> Reply:
        if topic not in self._known_topics:
            await asyncio.to_thread(self._ensure_topic, topic)
        correlation_id, future = self._send(topic, payload, timeout)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError:
            self._known_topics.discard(topic)  # the broker may have lost it: ensure it again
            raise RpcTimeout(topic, timeout) from None
        finally:
            self._forget(correlation_id)

    def request_sync(self, topic: str, payload: dict[str, Any], timeout: float = 5.0) -> Reply:
        """`request` for callers without an event loop; blocks this thread until the reply."""
        self._ensure_topic(topic)
        correlation_id, future = self._send(topic, payload, timeout)
        try:
            return future.result(timeout)
        except TimeoutError:
            self._known_topics.discard(topic)
            raise RpcTimeout(topic, timeout) from None
        finally:
            self._forget(correlation_id)

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._waiting.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._producer is not None:
            self._producer.flush(5)
            self._producer = None  # the last reference: frees librdkafka's handle and threads
        with self._lock:
            waiting, self._pending = self._pending, {}
        for future in waiting.values():
            _settle(future, RpcError("RpcClient closed"))
        if self._thread is None:
            return
        try:
            admin = AdminClient({"bootstrap.servers": self.bootstrap})
            deleted = admin.delete_topics([self.reply_topic], operation_timeout=5)
            deleted[self.reply_topic].result(10)
        except Exception:  # best effort: a leftover reply topic is harmless, only untidy
            log.warning("reply topic not deleted", topic=self.reply_topic, exc_info=True)

    def __enter__(self) -> RpcClient:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ensure_topic(self, topic: str) -> None:
        # Created by us with one partition: a broker may otherwise auto-create it with its own
        # default partition count (Tansu makes 4) when a client first names it.
        if topic not in self._known_topics:
            ensure_topics(self.bootstrap, topic)
            self._known_topics.add(topic)

    def _send(
        self, topic: str, payload: dict[str, Any], timeout: float
    ) -> tuple[str, Future[Reply]]:
        if self._producer is None or self._stop.is_set():
            raise RpcError("RpcClient is not running; call start() first")
        value = orjson.dumps(payload)  # before registering: a bad payload leaves nothing behind
        correlation_id = uuid.uuid4().hex
        future: Future[Reply] = Future()
        with self._lock:
            self._pending[correlation_id] = future
        headers: list[tuple[str, str | bytes | None]] = [
            (CORRELATION_ID, correlation_id.encode()),
            (REPLY_TO, self.reply_topic.encode()),
            (DEADLINE, str(int((time.time() + timeout) * 1000)).encode()),
        ]

        def reported(err: Any, _message: Any) -> None:
            if err is not None:
                self._known_topics.discard(topic)
                self._resolve(correlation_id, RpcError(f"request to {topic} not delivered: {err}"))

        try:
            self._producer.produce(topic, value, headers=headers, on_delivery=reported)
        except (BufferError, KafkaException):
            self._forget(correlation_id)
            raise
        with self._lock:  # with the lock: the listener clears it only when nothing is pending
            self._waiting.set()
        if self.doorbell is not None:
            self.doorbell.ring(topic)
        return correlation_id, future

    def _forget(self, correlation_id: str) -> None:
        with self._lock:
            self._pending.pop(correlation_id, None)
            if not self._pending:
                self._waiting.clear()

    def _resolve(self, correlation_id: str, result: Reply | BaseException) -> bool:
        with self._lock:
            future = self._pending.pop(correlation_id, None)
            if not self._pending:
                self._waiting.clear()
        if future is None:
            return False
        _settle(future, result)
        return True

    def _listen(self, consumer: Consumer, producer: Producer) -> None:
        """Fetch replies while a request waits; with none waiting, pause and fetch nothing."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        checked = time.monotonic()
        try:
            while not self._stop.is_set():
                producer.poll(0)  # serve the requests' delivery reports
                with self._lock:
                    if not self._pending:  # a reply may have beaten its `_waiting.set()`
                        self._waiting.clear()
                if not self._waiting.is_set():
                    self._idle(consumer, producer)
                    continue
                for message in next_batch(consumer, 100):
                    correlation_id = header(headers_of(message), CORRELATION_ID) or ""
                    if not self._resolve(correlation_id, _decode(message.value())):
                        self.dropped += 1
                        log.debug("reply dropped", correlation_id=correlation_id)
                if time.monotonic() - checked > REPLY_TOPIC_CHECK_SECONDS:
                    self._keep_reply_topic(admin, consumer)
                    checked = time.monotonic()
        finally:
            consumer.close()

    def _idle(self, consumer: Consumer, producer: Producer) -> None:
        assignment = consumer.assignment()
        consumer.pause(assignment)
        try:
            while not self._waiting.wait(1.0):
                producer.poll(0)
        finally:
            resume(consumer, assignment)

    def _keep_reply_topic(self, admin: AdminClient, consumer: Consumer) -> None:
        """A broker that lost its data lost our reply topic too: make a new one, read it from 0."""
        found = topic_identity(admin, self.reply_topic)
        if found is not None and found == self._reply_topic_id:
            return
        ensure_topics(self.bootstrap, self.reply_topic, admin=admin)
        self._reply_topic_id = topic_identity(admin, self.reply_topic)
        consumer.assign([TopicPartition(self.reply_topic, 0, 0)])
        self.reply_topic_recreated += 1
        log.warning("reply topic was gone; recreated", topic=self.reply_topic)


def _decode(value: bytes | None) -> Reply | BaseException:
    try:
        reply = orjson.loads(value or b"null")
    except orjson.JSONDecodeError as exc:
        return RpcError(f"malformed reply: {exc}")
    if not isinstance(reply, dict):
        return RpcError(f"malformed reply: a JSON object was expected, got {type(reply).__name__}")
    return reply

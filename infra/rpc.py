"""Request-reply over Kafka: a client that awaits replies by correlation id, and a server that
answers from a registry of handlers (topic → function).

Each client owns a fresh one-partition reply topic and reads it by assignment from the
beginning: no group join, so it is ready at once, and no reliance on `latest` offsets, which the
embedded broker (Tansu) answers wrongly. Everything on that topic is a reply to this client;
a reply nobody waits for any more (timed out, or sent twice after a redelivery) is dropped.

The server is an ordinary consumer group over the handler topics. It answers a batch, flushes
the replies, and only then commits: a server that dies mid-batch leaves the requests to the next
member (at-least-once, so handlers should be idempotent). Requests past their deadline are
skipped, since their caller has given up.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, InvalidStateError
from threading import Event, Lock, Thread
from typing import Any, cast

import orjson
import structlog
from confluent_kafka import (
    Consumer,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from infra.doorbell import Doorbell, Drowsiness
from infra.kafka import (
    consumer_config,
    ensure_topics,
    header,
    producer_config,
    resume,
    topic_identity,
)

log = structlog.get_logger("bsdflow.rpc")

Handler = Callable[[dict[str, Any]], dict[str, Any]]
Reply = dict[str, Any]

CORRELATION_ID = "correlation_id"
REPLY_TO = "reply_to"
DEADLINE = "deadline"  # epoch milliseconds after which the caller no longer waits

# No idempotence: a new idempotent producer waits ≈0.5-1 s for its producer id (measured on
# Tansu), which every client's first request would pay. A duplicate after a retry is harmless:
# handling is at-least-once anyway, and a second reply finds no waiter.
REQUEST_PRODUCER = {"enable.idempotence": False}
# Replies are worth nothing once their caller has timed out, so the server gives up on them
# quickly: a reply topic that is gone fails after 2 s instead of librdkafka's 30 s, and every
# reply gets a delivery report (success or failure) before the flush that precedes a commit.
REPLY_PRODUCER = REQUEST_PRODUCER | {
    "message.timeout.ms": 10_000,
    "topic.metadata.propagation.max.ms": 2_000,
}
FLUSH_SECONDS = 15.0
REPLY_TOPIC_CHECK_SECONDS = 1.0


class RpcError(Exception):
    """A request could not be sent, its reply was malformed, or the client was closed."""


class RpcTimeout(TimeoutError):
    def __init__(self, topic: str, timeout: float) -> None:
        super().__init__(f"no reply on {topic} within {timeout} s")
        self.topic = topic
        self.timeout = timeout


def _next_batch(consumer: Consumer, size: int, wait: float = 0.1) -> list[Message]:
    """Up to `size` messages, waiting only for the first one.

    `consume(size, timeout)` waits out its whole timeout unless `size` messages arrive, which
    would add up to `wait` seconds to every hop; this returns as soon as one message is there,
    with whatever else has already been fetched.
    """
    first = consumer.poll(wait)
    if first is None:
        return []
    messages = [first, *(consumer.consume(size - 1, timeout=0) if size > 1 else [])]
    usable = []
    for message in messages:
        if message.error() is not None:
            log.warning("consume error", error=str(message.error()))
        else:
            usable.append(message)
    return usable


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
                for message in _next_batch(consumer, 100):
                    correlation_id = header(_headers(message), CORRELATION_ID) or ""
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


def _headers(message: Message) -> list[tuple[str, bytes]] | None:
    return cast("list[tuple[str, bytes]] | None", message.headers())


def _decode(value: bytes | None) -> Reply | BaseException:
    try:
        reply = orjson.loads(value or b"null")
    except orjson.JSONDecodeError as exc:
        return RpcError(f"malformed reply: {exc}")
    if not isinstance(reply, dict):
        return RpcError(f"malformed reply: a JSON object was expected, got {type(reply).__name__}")
    return reply


class RpcServer:
    """Answers requests on the registry's topics; one consumer group member per `run`."""

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
                batch = _next_batch(consumer, self.batch_size)
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
        headers = _headers(message)
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

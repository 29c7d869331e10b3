"""Waking idle Kafka consumers when their topic has news, so that idle costs next to nothing.

The embedded broker (Tansu) does not answer a waiting fetch when a message arrives: a consumer
either polls every few milliseconds (fast, but a dozen of them kept the broker at 40 % of a
core with nothing to do) or long-polls and adds the wait to every event's latency. So consumers
pause their partitions once idle, and whoever produces to a topic rings its doorbell: one Redis
pub/sub message, which resumes every paused consumer of that topic in any process.

A ring counts, it carries nothing: a consumer notes the count before its last empty polls and
pauses only if no ring came since, so a ring that races with the decision to pause still wakes
it. Rings can be lost (Redis restarting, a dropped subscription); a paused consumer also looks
again every `fallback` seconds, which bounds the cost of a lost ring, and a listener that had to
reconnect wakes every consumer once.

Other news that carries only a name rides on the same connection (`listen`): a ring's topic is
the news, e.g. "the roles of tenant T changed" for every process's cache of them.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

import redis
import structlog
from confluent_kafka import Consumer, Message, TopicPartition

from infra.kafka import resume

log = structlog.get_logger("bsdflow.doorbell")
PREFIX = "bsdflow:doorbell:"
SUBSCRIBE_SECONDS = 5.0


class Doorbell:
    """One pub/sub connection per process, shared by every consumer in it."""

    def __init__(self, redis_url: str, fallback: float = 10.0) -> None:
        self.redis_url = redis_url
        self.fallback = fallback
        self._client = redis.Redis.from_url(redis_url, socket_timeout=5)
        self._rings: Counter[str] = Counter()
        self._epoch = 0  # bumped when rings may have been missed: wakes every waiter once
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._listeners: list[tuple[str, Callable[[str | None], None]]] = []

    def ring(self, *topics: str) -> None:
        """Tell every consumer of these topics that something was produced (best effort)."""
        try:
            pipe = self._client.pipeline(transaction=False)
            for topic in topics:
                pipe.publish(PREFIX + topic, b"")
            pipe.execute()
        except redis.RedisError as exc:  # a lost ring costs one fallback interval, no more
            log.warning("doorbell not rung", topics=topics, error=str(exc))

    def rings(self, *topics: str) -> int:
        """How many rings this process has heard for these topics (compare, do not interpret)."""
        self._listen()
        with self._changed:
            return self._count(topics)

    def wait(self, topics: tuple[str, ...], since: int, timeout: float) -> bool:
        """Block until a ring newer than `since` (True) or `timeout` seconds (False)."""
        self._listen()
        with self._changed:
            return self._changed.wait_for(lambda: self._count(topics) != since, timeout)

    def listen(self, prefix: str, heard: Callable[[str | None], None]) -> None:
        """Call `heard` (from the listener's thread) with the rest of each ring's topic under
        `prefix`, and with None whenever rings may have been missed (a new subscription)."""
        self._listeners.append((prefix, heard))
        self._listen()

    def close(self) -> None:
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread is not None:
            # A ring of its own ends the listener's wait for news now, not within a second.
            self.ring(f"closing:{id(self)}")
            self._thread.join(5)
        self._client.close()

    def _count(self, topics: tuple[str, ...]) -> int:
        return self._epoch + sum(self._rings[topic] for topic in topics)

    def _listen(self) -> None:
        """Start the listener once, and return when it is subscribed: a ring sent before that
        would be lost, and a consumer counting rings from then on would sleep through it."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="doorbell", daemon=True)
            self._thread.start()
            if not self._subscribed.wait(SUBSCRIBE_SECONDS):
                log.warning("doorbell not subscribed yet; a lost ring costs one fallback look")

    def _run(self) -> None:
        while not self._stop.is_set():
            pubsub: Any = None
            try:
                pubsub = cast("Any", self._client).pubsub()
                pubsub.psubscribe(PREFIX + "*")
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["type"] == "psubscribe":
                        # After a reconnect, rings may have been missed: wake everyone once.
                        self._heard_everything()
                        self._subscribed.set()
                    elif message["type"] == "pmessage":
                        self._heard(message["channel"])
            except redis.RedisError as exc:
                log.warning("doorbell listener reconnecting", error=str(exc))
                self._stop.wait(1.0)
            finally:
                if pubsub is not None:
                    pubsub.close()

    def _heard(self, channel: bytes | str) -> None:
        topic = (channel.decode() if isinstance(channel, bytes) else channel).removeprefix(PREFIX)
        with self._changed:
            self._rings[topic] += 1
            self._changed.notify_all()
        for prefix, heard in self._listeners:
            if topic.startswith(prefix):
                self._tell(heard, topic.removeprefix(prefix))

    def _heard_everything(self) -> None:
        with self._changed:
            self._epoch += 1
            self._changed.notify_all()
        for _, heard in self._listeners:
            self._tell(heard, None)

    @staticmethod
    def _tell(heard: Callable[[str | None], None], news: str | None) -> None:
        try:
            heard(news)
        except Exception:  # one listener's fault must not stop the doorbell for the others
            log.exception("doorbell listener failed", news=news)


class ThrottledRing:
    """A producer's rings for one topic: at once after a quiet spell, then at most one per
    `interval` while it keeps producing, and one more `interval` after its last production.

    A consumer pauses only after half a second without a message or a ring, so a ring per
    production bought nothing at a steady rate: it cost every process's listener a wake-up per
    event. Every production is still followed by a ring within `interval`."""

    def __init__(
        self,
        doorbell: Doorbell,
        topic: str,
        interval: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.doorbell = doorbell
        self.topic = topic
        self.interval = interval
        self.clock = clock
        self.rung = 0
        self._rung_at = -interval
        self._owed = False

    def produced(self) -> None:
        self._owed = True
        self.settle()

    def due_in(self) -> float | None:
        """Seconds until an owed ring is due; None when none is owed."""
        if not self._owed:
            return None
        return max(0.0, self._rung_at + self.interval - self.clock())

    def settle(self) -> None:
        """Ring now if a ring is owed and due."""
        now = self.clock()
        if self._owed and now - self._rung_at >= self.interval:
            self.doorbell.ring(self.topic)
            self._rung_at, self._owed = now, False
            self.rung += 1


class Drowsiness:
    """When a consumer may pause: after `after` seconds of empty polls with no ring meanwhile.

    While paused it still polls (without fetching) every `tick` seconds, which serves rebalance
    callbacks and keeps it within `max.poll.interval.ms`, and it resumes to look for itself
    every `fallback` seconds in case a ring was lost. Such a look, with no ring, pauses again
    after `recheck` seconds of empty polls rather than `after`: fetching from a resumed
    partition answers at once when there is data, and the embedded broker holds every empty
    fetch for `fetch.wait.max.ms`, so each look cost ≈ 50 fetches per consumer with `after`
    (a dozen consumers looking every 10 s: most of the broker's idle CPU), ≈ 10 with `recheck`.
    """

    def __init__(
        self,
        doorbell: Doorbell | None,
        topics: tuple[str, ...],
        after: float = 0.5,
        tick: float = 1.0,
        recheck: float = 0.1,
    ) -> None:
        self.doorbell = doorbell
        self.topics = topics
        self.after = after
        self.tick = tick
        self.recheck = recheck
        self.rests = 0  # times paused, for tests and metrics
        self._idle_since: float | None = None
        self._rings = 0
        self._looking = False  # resumed by the fallback, not by a ring
        self._starts: dict[tuple[str, int], tuple[int, int]] = {}

    def reading_from(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Where reading (re)starts, after an assign or a seek: until a message from there is
        consumed, the client's position does not say it."""
        for tp, now in zip(partitions, consumer.position(partitions), strict=True):
            self._starts[tp.topic, tp.partition] = (tp.offset, now.offset)

    def caught_up(self, consumer: Consumer, assignment: list[TopicPartition]) -> bool:
        """True once a fetch has answered for every partition and nothing lies beyond where
        the consumer reads. Empty polls alone do not say it: right after an assignment the
        fetcher may not have asked yet, and a consumer pausing then would sleep through
        events produced, and rung for, before it joined."""
        for tp in consumer.position(assignment):
            _, high = consumer.get_watermark_offsets(tp, cached=True)
            if high < 0:
                return False
            offset = tp.offset
            start = self._starts.get((tp.topic, tp.partition))
            if start is not None and offset == start[1]:  # nothing consumed since
                offset = start[0]
            if 0 <= offset < high:
                return False
        return True

    def busy(self) -> None:
        self._idle_since = None
        self._looking = False

    def rest_if_idle(self, consumer: Consumer, stop: threading.Event) -> list[Message]:
        """Call after an empty poll; returns messages that arrived while paused, if any."""
        if self.doorbell is None:
            return []
        now = time.monotonic()
        rings = self.doorbell.rings(*self.topics)
        if self._idle_since is None or rings != self._rings:
            self._idle_since, self._rings = now, rings
            return []
        if now - self._idle_since < (self.recheck if self._looking else self.after):
            return []
        return self._rest(consumer, stop, self.doorbell)

    def _rest(self, consumer: Consumer, stop: threading.Event, doorbell: Doorbell) -> list[Message]:
        assignment = consumer.assignment()
        if not assignment or not self.caught_up(consumer, assignment):
            return []
        consumer.pause(assignment)
        self.rests += 1
        looked = time.monotonic()
        self._looking = False
        try:
            while not stop.is_set():
                if doorbell.wait(self.topics, self._rings, self.tick):
                    break
                if time.monotonic() - looked > doorbell.fallback:
                    self._looking = True
                    break
                arrived = consumer.poll(0)
                if arrived is not None:
                    return [arrived]
            return []
        finally:
            # Resume what is still assigned: a rebalance while paused may have changed it.
            resume(consumer, consumer.assignment())
            # A look counts as idle from now on; a ring starts the idle clock afresh.
            self._idle_since = time.monotonic() if self._looking else None

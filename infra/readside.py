"""Running the read side's background services (relay and projection workers) as threads."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

import redis

from infra.doorbell import Doorbell
from infra.kafka import EVENTS_TOPIC
from infra.readdb import migrate_read_side
from infra.relay import Relay
from infra.services import Service, spawn
from infra.worker import ProjectionWorker
from projections.registry import PROJECTIONS


@dataclass
class ReadSide:
    database_url: str
    bootstrap: str
    redis_url: str
    topic: str = EVENTS_TOPIC
    projections: Iterable[str] | None = None
    relay: Relay | None = None
    workers: list[ProjectionWorker] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _redis: redis.Redis | None = None
    _doorbell: Doorbell | None = None

    def start(self, *, with_relay: bool = True) -> ReadSide:
        migrate_read_side(self.database_url)
        self._redis = client = redis.Redis.from_url(self.redis_url)
        self._doorbell = doorbell = Doorbell(self.redis_url)
        if with_relay:
            self.relay = Relay(
                self.database_url, self.bootstrap, topic=self.topic, doorbell=doorbell
            )
            self._spawn("relay", self.relay.run)
        names = list(PROJECTIONS if self.projections is None else self.projections)
        if names:
            # One consumer for all: each event is fetched and decoded once, not once per
            # projection, and announced in one message.
            worker = ProjectionWorker(
                [PROJECTIONS[name] for name in names],
                self.database_url,
                self.bootstrap,
                client,
                topic=self.topic,
                doorbell=doorbell,
            )
            self.workers.append(worker)
            self._spawn("projections", worker.run)
        return self

    def _spawn(self, name: str, target: Service) -> None:
        self._threads.append(spawn(name, target, self._stop))

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
        if self._doorbell is not None:
            self._doorbell.close()
        if self._redis is not None:
            self._redis.close()

"""What a projection worker publishes: changes and positions on Redis, parked events to Kafka."""

from __future__ import annotations

from collections import defaultdict
from uuid import UUID

import redis
import structlog
from confluent_kafka import Producer

from infra.kafka import dead_letter_topic
from infra.worker_progress import Progress
from projections.apply import BatchResult, Delivered
from projections.base import Projection
from projections.notify import (
    POSITIONS_CHANNEL,
    Change,
    changes_channel,
    encode_changes,
    positions_message,
)

log = structlog.get_logger("bsdflow.worker")


class Publishing(Progress):
    """Announcements after a batch, and the dead-letter topic for events a projection parked."""

    redis: redis.Redis

    def _publish_positions(self) -> None:
        self._unannounced_checkpoints = False
        self.redis.publish(POSITIONS_CHANNEL, positions_message(self.positions))

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

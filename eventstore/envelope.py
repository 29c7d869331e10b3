"""The stored-event envelope: what a stored event looks like to anyone who reads it raw.

A stored event is a row of `EVENTS_TABLE`: its position (notification id), the aggregate it
belongs to and that aggregate's version, its type (topic) and its state, a JSON object of the
event's own fields plus the metadata of the command that stored it under `META_KEY`. The relay
publishes that state as it is; projections, rebuild and the CLI decode it here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.utils import get_topic

APPLICATION_NAME = "bsdflow"
EVENTS_TABLE = f"{APPLICATION_NAME}_events"
"""Also the channel the store NOTIFYs on after every write."""
SNAPSHOTS_TABLE = f"{APPLICATION_NAME}_snapshots"
META_KEY = "_meta"


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """One stored domain event as the read side sees it (plain JSON payload, no domain object)."""

    position: int
    originator_id: UUID
    version: int
    type: str
    data: dict[str, Any]
    meta: Mapping[str, str]

    @property
    def tenant_id(self) -> UUID:
        tenant = self.meta.get("tenant_id") or self.data.get("tenant_id")
        return _uuid(str(tenant))

    @property
    def timestamp(self) -> datetime:
        return datetime.fromisoformat(str(self.data["timestamp"]))

    @property
    def name(self) -> str:
        """`Entity.Created` for `domain.entity:Entity.Created`."""
        return self.type.rsplit(":", 1)[-1]


@lru_cache(maxsize=4096)
def _uuid(text: str) -> UUID:
    """Tenant ids repeat across a batch; parsing one is a measurable part of applying it."""
    return UUID(text)


def type_of(event_class: type) -> str:
    """The type a stored event of `event_class` carries (`domain.entity:Entity.Created`)."""
    return get_topic(event_class)


def decode_event(
    position: int, originator_id: UUID, version: int, event_type: str, state: bytes
) -> RecordedEvent:
    """A RecordedEvent from a stored event's state (a Kafka value or an event-store row)."""
    data: dict[str, Any] = orjson.loads(state)
    meta = data.pop(META_KEY, None) or {}
    return RecordedEvent(position, originator_id, version, event_type, data, meta)


def encode_state(data: Mapping[str, Any], meta: Mapping[str, str]) -> bytes:
    """The stored state of an event's fields and metadata: `decode_event`'s inverse."""
    return orjson.dumps({**data, META_KEY: dict(meta)})


def read_metadata(state: bytes) -> dict[str, str]:
    """The metadata of a stored event's state, for consumers that do not load the event."""
    decoded: dict[str, Any] = orjson.loads(state)
    return dict(decoded.get(META_KEY) or {})

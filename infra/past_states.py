"""The read API's time travel: a record as it was at a position, rebuilt from the event store
(from a snapshot where one exists) on a worker thread."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import orjson
from anyio import to_thread

from domain.document import Document
from domain.entity import Entity
from domain.entity_type import EntityType
from domain.group import Group
from domain.occurrence import Occurrence
from domain.participant import Participant
from domain.process import Process
from eventstore import Aggregate, EventStore
from read_api.ports import PastState, PastStates

SHOWN: tuple[type[Aggregate], ...] = (
    Document,
    Entity,
    EntityType,
    Group,
    Occurrence,
    Participant,
    Process,
)
"""The records whose past states are shown: those of the read areas (automation's are not:
an action's state holds its sealed credentials)."""
HIDDEN_ATTRIBUTES = frozenset({"tenant_id"})


def state_of(record: Aggregate) -> dict[str, Any]:
    """The record's own attributes, as JSON values (ids and times as strings)."""
    public = {
        name: value
        for name, value in vars(record).items()
        if not name.startswith("_") and name not in HIDDEN_ATTRIBUTES
    }
    found: dict[str, Any] = orjson.loads(orjson.dumps(public, default=str))
    return found


def past_states(store: EventStore) -> PastStates:
    def at(tenant_id: UUID, record_id: UUID, position: int) -> PastState | None:
        version = store.version_at(record_id, position)
        if version is None:
            return None
        record = store.find(Aggregate, record_id, version)
        if not isinstance(record, SHOWN) or getattr(record, "tenant_id", None) != tenant_id:
            return None
        return PastState(
            kind=type(record).__name__,
            version=version,
            position=store.position_of(record_id, version),
            at=record.modified_on,
            created_at=record.created_on,
            state=state_of(record),
        )

    async def in_thread(tenant_id: UUID, record_id: UUID, position: int) -> PastState | None:
        return await to_thread.run_sync(at, tenant_id, record_id, position)

    return in_thread

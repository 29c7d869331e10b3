"""The event store in memory, for unit tests of command handlers: given events, when a command,
then events or an error, with no server.

Events go through the same mapper and transcoder as in PostgreSQL, so a handler whose events
would not store, or would not load back typed, fails here as it would there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.application import project_aggregate
from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import StoredEvent

from eventstore.envelope import RecordedEvent, decode_event
from eventstore.keys import MemorySubjectKeys
from eventstore.port import A, ConcurrentWrite, Metadata
from eventstore.sealing import open_events
from eventstore.transcoding import (
    OrjsonTranscoder,
    TypedMapper,
    event_metadata,
    personal_fields,
)

GIVEN_METADATA: Metadata = {"actor": "given", "command": "given"}


@dataclass(frozen=True)
class _Stored:
    position: int
    event: StoredEvent


class InMemoryEventStore:
    def __init__(self, given: Iterable[Aggregate] = ()) -> None:
        self._mapper = TypedMapper(transcoder=OrjsonTranscoder())
        self.keys = self._mapper.keys = MemorySubjectKeys()
        self._log: list[_Stored] = []
        self._streams: dict[UUID | str, list[_Stored]] = {}
        self._given = 0
        self.given(*given)

    def given(self, *aggregates: Aggregate) -> None:
        """Store `aggregates` as the past: `new_events` is what is stored from now on."""
        self.save(*aggregates, metadata=GIVEN_METADATA)
        self._given = len(self._log)

    @property
    def new_events(self) -> list[RecordedEvent]:
        """What was stored since the last `given`, as the read side decodes it."""
        decoded = [
            decode_event(
                s.position,
                UUID(str(s.event.originator_id)),
                s.event.originator_version,
                s.event.topic,
                s.event.state,
            )
            for s in self._log[self._given :]
        ]
        return open_events(decoded, self.keys)

    @property
    def stored_states(self) -> list[bytes]:
        """Every stored event's state as stored (personal values sealed), oldest first."""
        return [s.event.state for s in self._log]

    @property
    def new_event_names(self) -> list[str]:
        """`Entity.Created`, … for every event stored since the last `given`."""
        return [event.name for event in self.new_events]

    def find(self, cls: type[A], aggregate_id: UUID, version: int | None = None) -> A | None:
        stream = self._streams.get(aggregate_id, [])
        events: list[DomainEventProtocol[UUID]] = [
            self._mapper.to_domain_event(s.event)
            for s in stream
            if version is None or s.event.originator_version <= version
        ]
        found = project_aggregate(None, events) if events else None
        return found if isinstance(found, cls) else None

    def find_many(self, cls: type[A], aggregate_ids: Sequence[UUID]) -> list[A]:
        found = (self.find(cls, i) for i in aggregate_ids)
        return [aggregate for aggregate in found if aggregate is not None]

    def exists(self, aggregate_id: UUID) -> bool:
        return aggregate_id in self._streams

    def save(self, *aggregates: Aggregate, metadata: Metadata) -> int:
        pending = [event for aggregate in aggregates for event in aggregate.collect_events()]
        with event_metadata(metadata), personal_fields(aggregates):
            stored = [self._mapper.to_stored_event(event) for event in pending]
        next_version: dict[UUID | str, int] = {}
        for event in stored:
            stream = self._streams.get(event.originator_id, [])
            expected = next_version.get(event.originator_id, len(stream) + 1)
            if event.originator_version != expected:
                raise ConcurrentWrite
            next_version[event.originator_id] = expected + 1
        for event in stored:
            entry = _Stored(len(self._log) + 1, event)
            self._log.append(entry)
            self._streams.setdefault(event.originator_id, []).append(entry)
        return self.head()

    def forget(self, tenant_id: UUID, subject_id: UUID) -> None:
        self.keys.forget((tenant_id, subject_id))

    def position_of(self, aggregate_id: UUID, version: int) -> int:
        for entry in self._streams.get(aggregate_id, []):
            if entry.event.originator_version == version:
                return entry.position
        raise LookupError(f"no event {aggregate_id} v{version}")

    def head(self) -> int:
        return len(self._log)

    def version_at(self, aggregate_id: UUID, position: int) -> int | None:
        versions = [
            entry.event.originator_version
            for entry in self._streams.get(aggregate_id, [])
            if entry.position <= position
        ]
        return max(versions) if versions else None

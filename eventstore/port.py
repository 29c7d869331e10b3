"""What the command side and the automation workers may ask of the event store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

A = TypeVar("A", bound=Aggregate)
"""Any aggregate class: the store keeps the events of eventsourcing aggregates."""
Metadata = Mapping[str, str]
"""Stored with every event of one write: tenant, actor, command, correlation and causation."""


class ConcurrentWrite(Exception):
    """Another writer stored an event at the same (aggregate, version) first; nothing was saved."""


class EventStore(Protocol):
    def find(self, cls: type[A], aggregate_id: UUID, version: int | None = None) -> A | None:
        """The aggregate as of `version` (default: its latest), or None if there is no `cls`
        with this id."""

    def find_many(self, cls: type[A], aggregate_ids: Sequence[UUID]) -> list[A]:
        """Many aggregates at once, in the order asked; ids that are not a `cls` are left out."""

    def exists(self, aggregate_id: UUID) -> bool:
        """Whether any event has this originator id, whatever its class."""

    def save(self, *aggregates: Aggregate, metadata: Metadata) -> int:
        """Store every pending event of `aggregates` in one transaction; their last position.

        Raises ConcurrentWrite, and stores nothing, when any of them was changed meanwhile.
        With no pending event it stores nothing and answers the store's head position.
        """

    def forget(self, tenant_id: UUID, subject_id: UUID) -> None:
        """Destroy the subject's key: the personal values sealed under it read as null from
        now on, everywhere, and nothing more can be sealed for it. Forgetting again is a no-op."""

    def position_of(self, aggregate_id: UUID, version: int) -> int:
        """The position at which one stored event was recorded (LookupError if none)."""

    def head(self) -> int:
        """The position of the last stored event (0 for an empty store)."""

    def version_at(self, aggregate_id: UUID, position: int) -> int | None:
        """The aggregate's version as of a position of the log: that of its last event at or
        before it (None if it had none yet)."""


__all__ = ["A", "Aggregate", "ConcurrentWrite", "EventStore", "Metadata"]

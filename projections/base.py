"""The projection contract: events in, SQL statements out, applied in one transaction per batch.

A projection owns one PostgreSQL schema (its DDL uses `{schema}`), so a rebuild can fill a fresh
schema and swap it in atomically. Handlers are pure: they turn recorded events into statements;
the runtime batches consecutive statements with the same SQL into one `executemany`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from uuid import UUID

import orjson
from eventsourcing.utils import get_topic


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
        return UUID(str(tenant))

    @property
    def timestamp(self) -> datetime:
        return datetime.fromisoformat(str(self.data["timestamp"]))

    @property
    def name(self) -> str:
        """`Entity.Created` for `domain.entity:Entity.Created`."""
        return self.type.rsplit(":", 1)[-1]


def decode_event(
    position: int, originator_id: UUID, version: int, event_type: str, state: bytes
) -> RecordedEvent:
    """Build a RecordedEvent from a stored event's JSON state (Kafka value or event-store row)."""
    data: dict[str, Any] = orjson.loads(state)
    meta = data.pop("_meta", None) or {}
    return RecordedEvent(position, originator_id, version, event_type, data, meta)


Params = Sequence[Any] | Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Statement:
    sql: str
    params: Params


Handler = Callable[[Any, RecordedEvent], Iterable[Statement]]
H = TypeVar("H", bound=Handler)


def event_class(aggregate: type, name: str) -> type:
    """`Entity.Archived`, looked up at import time (mypy cannot see `@event`-made classes)."""
    found: type = getattr(aggregate, name)
    return found


def handles(*event_classes: type) -> Callable[[H], H]:
    """Mark a method as the handler of these domain event classes."""

    def mark(method: H) -> H:
        method.__handles__ = tuple(get_topic(cls) for cls in event_classes)  # type: ignore[attr-defined]
        return method

    return mark


class Projection:
    name: ClassVar[str]
    ddl: ClassVar[Path]
    """SQL file creating the projection's tables inside `{schema}`."""
    tables: ClassVar[tuple[str, ...]]
    """Tables to compare and to put under row-level security (all lead with tenant_id)."""
    _handlers: ClassVar[dict[str, str]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._handlers = {}
        for attribute, member in vars(cls).items():
            for topic in getattr(member, "__handles__", ()):
                cls._handlers[topic] = attribute

    @property
    def schema(self) -> str:
        return f"rm_{self.name}"

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(self._handlers)

    def create_sql(self, schema: str) -> str:
        return self.ddl.read_text().replace("{schema}", schema)

    change_kinds: ClassVar[dict[str, str]] = {}
    """Aggregate class name → the kind of object whose change is announced (e.g. Entity → entity)."""

    def change_of(self, event: RecordedEvent) -> tuple[str, UUID] | None:
        """The (kind, id) this event changes, for notifications and cache invalidation."""
        kind = self.change_kinds.get(event.name.split(".", 1)[0])
        return (kind, event.originator_id) if kind else None

    reorder_by_aggregate: ClassVar[bool] = False
    """Opt-in batching: see `statements`. Only for projections whose statements read and
    write nothing but their own aggregate's rows (not entities, which joins entity types)."""

    def statements(self, events: Iterable[RecordedEvent]) -> Iterator[Statement]:
        """The statements for `events`, in an order the runtime can batch.

        The runtime batches only consecutive statements with the same SQL, and a live stream
        interleaves event types, so in event order nearly every run has length one. With
        `reorder_by_aggregate`, wave k holds each aggregate's k-th statement: statements of one
        wave touch different aggregates, so they commute and are grouped by SQL, while each
        aggregate's own statements keep their order across waves.
        """
        if not self.reorder_by_aggregate:
            for event in events:
                attribute = self._handlers.get(event.type)
                if attribute is not None:
                    yield from getattr(self, attribute)(event)
            return
        waves: list[list[Statement]] = []
        issued: dict[UUID, int] = defaultdict(int)
        for event in events:
            attribute = self._handlers.get(event.type)
            for statement in getattr(self, attribute)(event) if attribute else ():
                k = issued[event.originator_id]
                issued[event.originator_id] = k + 1
                if k == len(waves):
                    waves.append([])
                waves[k].append(statement)
        for wave in waves:
            yield from sorted(wave, key=lambda s: s.sql)


def q(sql: str, *params: Any) -> Statement:
    """A statement with positional parameters (`%s`)."""
    return Statement(sql, params)

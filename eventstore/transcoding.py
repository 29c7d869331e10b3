"""How events are stored: orjson bytes, typed on the way back, with metadata attached.

Event payloads stay plain JSON (ids and times as strings) so that the relay, Kafka consumers
and humans can read them; the type hints of each event class restore UUIDs and datetimes
when an event is loaded. Snapshots hold arbitrary aggregate state, so their values are tagged.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from functools import cache
from types import NoneType, UnionType
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.domain import DomainEventProtocol, Snapshot
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from eventsourcing.utils import get_topic

from eventstore.envelope import META_KEY
from eventstore.keys import SubjectKeys
from eventstore.sealing import (
    FORGETTING,
    may_be_sealed,
    opened,
    seal_personal,
    sealed_names,
    sealed_subjects,
)

_metadata: ContextVar[Mapping[str, str] | None] = ContextVar("event_metadata", default=None)
_personal: ContextVar[dict[UUID, frozenset[str]] | None] = ContextVar("personal", default=None)


@contextmanager
def event_metadata(meta: Mapping[str, str]) -> Iterator[None]:
    """Every event mapped inside this block carries `meta` (tenant, actor, correlation...)."""
    token = _metadata.set(meta)
    try:
        yield
    finally:
        _metadata.reset(token)


@contextmanager
def personal_fields(aggregates: Iterable[Any]) -> Iterator[None]:
    """Inside this block the personal values of `aggregates` (an entity's, which its type
    names: `personal_fields`) are sealed, and so are those of a snapshot taken of them."""
    given = {a.id: a.personal_fields for a in aggregates if getattr(a, "personal_fields", None)}
    token = _personal.set(given)
    try:
        yield
    finally:
        _personal.reset(token)


class OrjsonTranscoder(Transcoder):
    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


Convert = Callable[[Any], Any]


def _converter(hint: Any) -> Convert | None:
    """A function restoring a value of type `hint` from its JSON form, or None if JSON is enough."""
    if hint is UUID:
        return UUID
    if hint is datetime:
        return datetime.fromisoformat
    if hint is date:
        return date.fromisoformat
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (UnionType, typing.Union):
        inner = [a for a in args if a is not NoneType]
        convert = _converter(inner[0]) if len(inner) == 1 else None
        if convert is None:
            return None
        return lambda v: None if v is None else convert(v)
    if origin is list and args:
        item = _converter(args[0])
        return None if item is None else (lambda v: [item(x) for x in v])
    return None


@cache
def _converters(cls: type) -> dict[str, Convert]:
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):
        hints = {}
    found = {name: _converter(hint) for name, hint in hints.items()}
    return {name: conv for name, conv in found.items() if conv is not None}


def _tag(value: Any) -> Any:
    if isinstance(value, UUID):
        return {"__uuid__": str(value)}
    if isinstance(value, datetime):
        return {"__datetime__": value.isoformat()}
    if isinstance(value, date):
        return {"__date__": value.isoformat()}
    if isinstance(value, dict):
        return {k: _tag(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_tag(v) for v in value]
    return value


_UNTAG: dict[str, Convert] = {
    "__uuid__": UUID,
    "__datetime__": datetime.fromisoformat,
    "__date__": date.fromisoformat,
}


def _untag(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, inner),) = value.items()
            if key in _UNTAG:
                return _UNTAG[key](inner)
        return {k: _untag(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_untag(v) for v in value]
    return value


class TypedMapper(Mapper[UUID]):
    """Adds metadata and seals personal values on the way in; opens them and restores Python
    types on the way out.

    eventsourcing's own cipher (`CIPHER_TOPIC`) encrypts whole events under one key, which
    cannot forget one person; sealing here is per value and per subject (`eventstore.sealing`).
    """

    keys: SubjectKeys | None = None
    """Set by the store once its database is open; without keys nothing is sealed or opened."""

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        domain_event = self._sealed(domain_event)
        if isinstance(domain_event, Snapshot):
            tagged = object.__new__(type(domain_event))
            object.__setattr__(
                tagged, "__dict__", {**vars(domain_event), "state": _tag(domain_event.state)}
            )
            domain_event = tagged
        meta = _metadata.get()
        if meta is not None:
            with_meta = object.__new__(type(domain_event))
            object.__setattr__(with_meta, "__dict__", {**vars(domain_event), META_KEY: dict(meta)})
            domain_event = with_meta
        return super().to_stored_event(domain_event)

    def _sealed(self, domain_event: DomainEventProtocol[UUID]) -> DomainEventProtocol[UUID]:
        if self.keys is None:
            return domain_event
        state = vars(domain_event)
        tenant = state.get("tenant_id") or (_metadata.get() or {}).get("tenant_id")
        if tenant is None and isinstance(domain_event, Snapshot):
            tenant = domain_event.state.get("tenant_id")
        if tenant is None:
            return domain_event
        subject = (UUID(str(tenant)), domain_event.originator_id)
        given = (_personal.get() or {}).get(domain_event.originator_id, frozenset())
        sealed = seal_personal(get_topic(type(domain_event)), state, self.keys, subject, given)
        if sealed is None:
            return domain_event
        copy = object.__new__(type(domain_event))
        object.__setattr__(copy, "__dict__", sealed)
        return copy

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        domain_event = super().to_domain_event(stored_event)
        state = vars(domain_event)
        meta = state.pop(META_KEY, None) or {}
        if self.keys is not None:
            self._open(stored_event, state, meta, self.keys)
        if isinstance(domain_event, Snapshot):
            state["state"] = _untag(state["state"])
        for name, convert in _converters(type(domain_event)).items():
            if name in state and name not in ("originator_id", "originator_version"):
                state[name] = convert(state[name])
        return domain_event

    @staticmethod
    def _open(
        stored: StoredEvent, state: dict[str, Any], meta: Mapping[str, str], keys: SubjectKeys
    ) -> None:
        if stored.topic in FORGETTING and "tenant_id" in meta:
            keys.evict((UUID(meta["tenant_id"]), UUID(str(stored.originator_id))))
        if not may_be_sealed(stored.state):
            return
        given = _personal.get()
        if given is not None:
            # Saving: a snapshot taken of this aggregate now must seal what its events sealed.
            names = sealed_names(state, stored.topic)
            if names:
                aggregate_id = UUID(str(stored.originator_id))
                given[aggregate_id] = given.get(aggregate_id, frozenset()) | names
        found = keys.keys_of(sealed_subjects(state))
        for name, value in state.items():
            state[name] = opened(value, found)


__all__ = ["OrjsonTranscoder", "TypedMapper", "event_metadata", "personal_fields"]

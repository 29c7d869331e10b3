"""Sealing personal values in event payloads under their subject's key (crypto-shredding).

A sealed value is an envelope in place of the plain one:
`{"__sealed__": {"t": tenant id, "s": subject id, "v": base64(nonce ‖ AES-GCM ciphertext)}}`,
the plaintext being the value's JSON; tenant and subject are also the associated data, so an
envelope copied under another subject does not open. Nulls are not sealed: a null says a
detail is absent or cleared, which is no one's personal data.

Opening replaces every envelope by its value while the key exists, and by null once it is
destroyed; readers learn that a subject was erased from the event that recorded it
(`FORGETTING`), not from the nulls. Events stored before sealing existed hold plain values,
which pass through untouched.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID

import orjson
import psycopg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.domain import Snapshot

from domain.entity import Entity
from domain.participant import PERSONAL_FIELDS, Participant
from eventstore.envelope import RecordedEvent, type_of
from eventstore.keys import PostgresSubjectKeys, Subject, SubjectKeys

SEALED = "__sealed__"
_MARK = f'"{SEALED}"'.encode()
NONCE_BYTES = 12


@dataclass(frozen=True)
class Personal:
    """Which values of an event are personal: fields of its own (`within` empty), or keys of
    the dict at `within`. The fields are fixed (a participant's), or given by the command
    that stores the event (an entity's, from its type)."""

    fields: frozenset[str] = frozenset()
    within: tuple[str, ...] = ()


PERSONAL: dict[str, Personal] = {
    type_of(getattr(Participant, "Registered")): Personal(PERSONAL_FIELDS),  # noqa: B009
    type_of(getattr(Participant, "Updated")): Personal(PERSONAL_FIELDS, ("changes",)),  # noqa: B009
    type_of(getattr(Entity, "Created")): Personal(within=("data",)),  # noqa: B009
    type_of(getattr(Entity, "Updated")): Personal(within=("changes",)),  # noqa: B009
    type_of(Snapshot): Personal(within=("state", "data")),
}
"""Event type → its personal values, sealed under the key of the event's own aggregate."""
FORGETTING = frozenset(
    {type_of(getattr(Participant, "Forgotten")), type_of(getattr(Entity, "Forgotten"))}  # noqa: B009
)
"""Event types that record a subject's key being destroyed (the subject is the aggregate)."""


def _aad(subject: Subject) -> bytes:
    return f"{subject[0]}/{subject[1]}".encode()


def seal(value: Any, key: bytes, subject: Subject) -> dict[str, Any]:
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, orjson.dumps(value), _aad(subject))
    text = base64.b64encode(nonce + sealed).decode()
    return {SEALED: {"t": str(subject[0]), "s": str(subject[1]), "v": text}}


def seal_personal(
    event_type: str,
    state: Mapping[str, Any],
    keys: SubjectKeys,
    subject: Subject,
    given: frozenset[str] = frozenset(),
) -> dict[str, Any] | None:
    """`state` with its personal values (its type's, and the `given` ones) sealed, or None if
    it holds none."""
    personal = PERSONAL.get(event_type)
    if personal is None:
        return None
    names = personal.fields | given
    holder: Any = state
    for step in personal.within:
        holder = holder.get(step) if isinstance(holder, Mapping) else None
    if not isinstance(holder, Mapping) or not any(holder.get(n) is not None for n in names):
        return None
    key = keys.key_for(subject)
    sealed: dict[str, Any] = {
        k: seal(v, key, subject) if k in names and v is not None else v for k, v in holder.items()
    }
    result: dict[str, Any] = _replaced(state, personal.within, sealed)
    return result


def _replaced(state: Mapping[str, Any], path: tuple[str, ...], value: Any) -> Any:
    """A copy of `state` with `value` at `path` (`value` itself for an empty path)."""
    if not path:
        return value
    return {**state, path[0]: _replaced(state[path[0]], path[1:], value)}


def sealed_names(state: Mapping[str, Any], event_type: str) -> frozenset[str]:
    """The names of the values `state` holds sealed where its type keeps personal values."""
    personal = PERSONAL.get(event_type)
    holder: Any = state if personal is not None else None
    for step in personal.within if personal is not None else ():
        holder = holder.get(step) if isinstance(holder, Mapping) else None
    if not isinstance(holder, Mapping):
        return frozenset()
    return frozenset(k for k, v in holder.items() if _is_envelope(v))


def _subject_of(envelope: Mapping[str, str]) -> Subject:
    return UUID(envelope["t"]), UUID(envelope["s"])


def _is_envelope(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and SEALED in value


def sealed_subjects(value: Any) -> set[Subject]:
    """The subjects whose keys the envelopes in `value` need."""
    if _is_envelope(value):
        return {_subject_of(value[SEALED])}
    if isinstance(value, dict):
        return set().union(*(sealed_subjects(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(sealed_subjects(v) for v in value))
    return set()


def _unseal(envelope: Mapping[str, str], keys: Mapping[Subject, bytes | None]) -> Any:
    subject = _subject_of(envelope)
    key = keys.get(subject)
    if key is None:
        return None
    raw = base64.b64decode(envelope["v"])
    try:
        plain = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(subject))
    except InvalidTag:
        # Not this subject's envelope (copied from another): it reads as what it is, unknown.
        return None
    return orjson.loads(plain)


def opened(value: Any, keys: Mapping[Subject, bytes | None]) -> Any:
    """`value` with every envelope replaced by its plain value, or null without a key."""
    if _is_envelope(value):
        return _unseal(value[SEALED], keys)
    if isinstance(value, dict):
        return {k: opened(v, keys) for k, v in value.items()}
    if isinstance(value, list):
        return [opened(v, keys) for v in value]
    return value


def may_be_sealed(state: bytes) -> bool:
    """A cheap look at stored bytes before any parsing (most events hold nothing personal)."""
    return _MARK in state


def forgotten_subject(event: RecordedEvent) -> Subject | None:
    if event.type not in FORGETTING:
        return None
    return event.tenant_id, event.originator_id


def open_events(events: Iterable[RecordedEvent], keys: SubjectKeys) -> list[RecordedEvent]:
    """The events as projections read them: personal values plain, or null once forgotten.

    A forgetting in the batch evicts its key from this process first, so nothing read in the
    same batch, or replayed later by this process, is opened with a key that was destroyed."""
    events = list(events)
    for event in events:
        subject = forgotten_subject(event)
        if subject is not None:
            keys.evict(subject)
    sealed = [i for i, e in enumerate(events) if e.type in PERSONAL]
    if not sealed:
        return events
    needed = set().union(*(sealed_subjects(events[i].data) for i in sealed))
    if not needed:
        return events
    found = keys.keys_of(needed)
    for i in sealed:
        events[i] = replace(events[i], data=opened(events[i].data, found))
    return events


def open_on(conn: psycopg.Connection[Any], events: Iterable[RecordedEvent]) -> list[RecordedEvent]:
    """`open_events` with the keys read on `conn` (any session of the event store's database,
    inside the caller's transaction if it has one)."""
    return open_events(events, PostgresSubjectKeys(lambda: nullcontext(conn)))

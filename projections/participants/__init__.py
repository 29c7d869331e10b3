"""Participants: the people and systems that take part in processes and occurrences."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from domain.participant import Participant
from eventstore import RecordedEvent
from projections.base import Projection, Statement, event_class, handles, jsonb, versioned_update
from projections.participants.queries import PARTICIPANT


class ParticipantsProjection(Projection):
    version = 2  # 2: erasure (a null name, `erased`)
    ddl = Path(__file__).with_name("schema.sql")
    tables = ("participants",)
    change_kinds = {"Participant": "participant"}
    feeds = (PARTICIPANT,)

    @handles(event_class(Participant, "Registered"))
    def registered(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        yield Statement.of(
            "INSERT INTO {schema}.participants (tenant_id, id, kind, name, email, phone, "
            "external_ref, version, created_at, updated_at, position) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (tenant_id, id) DO NOTHING",
            e.tenant_id,
            e.originator_id,
            d["kind"],
            d["name"],
            d["email"],
            d["phone"],
            d["external_ref"],
            e.version,
            e.timestamp,
            e.timestamp,
            e.position,
        )

    @handles(event_class(Participant, "Updated"))
    def updated(self, e: RecordedEvent) -> Iterator[Statement]:
        """`changes` holds only the fields that changed; a null there clears a contact detail.
        One SQL text for every update (so a batch of them is one executemany): each column
        takes the new value only when its key is present."""
        yield Statement.of(
            "UPDATE {schema}.participants p SET "
            "name = CASE WHEN c.v ? 'name' THEN c.v ->> 'name' ELSE p.name END, "
            "email = CASE WHEN c.v ? 'email' THEN c.v ->> 'email' ELSE p.email END, "
            "phone = CASE WHEN c.v ? 'phone' THEN c.v ->> 'phone' ELSE p.phone END, "
            "external_ref = CASE WHEN c.v ? 'external_ref' THEN c.v ->> 'external_ref' "
            "  ELSE p.external_ref END, "
            "version = %s, updated_at = %s, position = %s "
            "FROM (SELECT %s::jsonb AS v) c "
            "WHERE p.tenant_id = %s AND p.id = %s AND p.version < %s",
            e.version,
            e.timestamp,
            e.position,
            jsonb(e.data["changes"]),
            e.tenant_id,
            e.originator_id,
            e.version,
        )

    @handles(event_class(Participant, "Forgotten"))
    def forgotten(self, e: RecordedEvent) -> Iterator[Statement]:
        """The values sealed before read as null in a rebuild; live, they are cleared here."""
        yield versioned_update(
            "participants",
            "name = NULL, email = NULL, phone = NULL, erased = true",
            e,
        )

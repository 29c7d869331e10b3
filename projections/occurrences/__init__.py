"""Occurrences: what happened, when, where and to what; retracted ones are kept, flagged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from domain.occurrence import Occurrence
from eventstore import RecordedEvent
from projections.base import Projection, Statement, event_class, handles, jsonb, versioned_update
from projections.entities import point
from projections.occurrences.queries import OCCURRENCE


class OccurrencesProjection(Projection):
    ddl = Path(__file__).with_name("schema.sql")
    tables = ("occurrences",)
    change_kinds = {"Occurrence": "occurrence"}
    feeds = (OCCURRENCE,)

    @handles(event_class(Occurrence, "Recorded"))
    def recorded(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        lat, lon = point(d["location"])
        yield Statement.of(
            "INSERT INTO {schema}.occurrences (tenant_id, id, kind, occurred_at, data, lat, lon, "
            "process_id, entity_ids, participant_ids, version, recorded_at, updated_at, position) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::uuid[], %s::uuid[], %s, %s, %s, %s) "
            "ON CONFLICT (tenant_id, id) DO NOTHING",
            e.tenant_id,
            e.originator_id,
            d["kind"],
            datetime.fromisoformat(d["occurred_at"]),
            jsonb(d["data"]),
            lat,
            lon,
            d["process_id"],
            d["entity_ids"],
            d["participant_ids"],
            e.version,
            e.timestamp,
            e.timestamp,
            e.position,
        )

    @handles(event_class(Occurrence, "Retracted"))
    def retracted(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update("occurrences", "retracted = %s", e, e.data["reason"])

"""Processes: one row per case with its current stage, staff and links, plus the stage history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from domain.process import Process
from eventstore import RecordedEvent
from projections.base import Projection, Statement, event_class, handles, jsonb, versioned_update
from projections.processes.queries import PROCESS

HISTORY = (
    "INSERT INTO {schema}.stage_history (tenant_id, process_id, position, stage, previous, "
    "entered_at) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
)


def when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class ProcessesProjection(Projection):
    ddl = Path(__file__).with_name("schema.sql")
    tables = ("processes", "stage_history")
    change_kinds = {"Process": "process"}
    feeds = (PROCESS,)

    @handles(event_class(Process, "Opened"))
    def opened(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        first = d["stages"][0]
        yield Statement.of(
            "INSERT INTO {schema}.processes (tenant_id, id, kind, title, stages, stage, due_at, "
            "data, version, opened_at, updated_at, position) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (tenant_id, id) DO NOTHING",
            e.tenant_id,
            e.originator_id,
            d["kind"],
            d["title"],
            d["stages"],
            first,
            when(d["due_at"]),
            jsonb(d["data"]),
            e.version,
            e.timestamp,
            e.timestamp,
            e.position,
        )
        yield Statement.of(
            HISTORY, e.tenant_id, e.originator_id, e.position, first, None, e.timestamp
        )

    @handles(event_class(Process, "StageEntered"))
    def stage_entered(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        yield versioned_update("processes", "stage = %s", e, d["stage"])
        yield Statement.of(
            HISTORY,
            e.tenant_id,
            e.originator_id,
            e.position,
            d["stage"],
            d["previous"],
            e.timestamp,
        )

    @handles(event_class(Process, "ParticipantAssigned"))
    def assigned(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update(
            "processes",
            "participants = participants || jsonb_build_object(%s::text, %s::text)",
            e,
            e.data["participant_id"],
            e.data["role"],
        )

    @handles(event_class(Process, "ParticipantUnassigned"))
    def unassigned(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update(
            "processes", "participants = participants - %s::text", e, e.data["participant_id"]
        )

    @handles(event_class(Process, "EntityLinked"))
    def entity_linked(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update(
            "processes", "entity_ids = array_append(entity_ids, %s::uuid)", e, e.data["entity_id"]
        )

    @handles(event_class(Process, "DueSet"))
    def due_set(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update("processes", "due_at = %s", e, when(e.data["due_at"]))

    @handles(event_class(Process, "Closed"))
    def closed(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update(
            "processes",
            "status = 'closed', outcome = %s, closed_at = %s",
            e,
            e.data["outcome"],
            e.timestamp,
        )

    @handles(event_class(Process, "Reopened"))
    def reopened(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update("processes", "status = 'open', outcome = NULL, closed_at = NULL", e)

"""Processes: one row per case with its current stage, staff and links, the stage history, and
the tenant's process definitions with every version."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from domain.process import Process, next_timer_of
from domain.process_definition import ProcessDefinition
from domain.tenant import DEFAULT_SETTINGS, Tenant
from eventstore import RecordedEvent
from projections.base import Projection, Statement, event_class, handles, jsonb, versioned_update
from projections.processes.queries import PROCESS, PROCESS_DEFINITION

HISTORY = (
    "INSERT INTO {schema}.stage_history (tenant_id, process_id, position, stage, previous, "
    "transition, entered_at) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
)


def when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def entered_at(e: RecordedEvent) -> datetime:
    """When a stage was entered: by the command's clock, or (events before it was recorded)
    when the event was stored."""
    return when(e.data.get("entered_at")) or e.timestamp


class ProcessesProjection(Projection):
    version = 2  # 2: definitions, the version a case pins, approvals, data changes
    ddl = Path(__file__).with_name("schema.sql")
    tables = ("processes", "stage_history", "process_definitions", "tenant_calendars")
    change_kinds = {"Process": "process", "ProcessDefinition": "process_definition"}
    feeds = (PROCESS, PROCESS_DEFINITION)

    @handles(event_class(Process, "Opened"))
    def opened(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        first = d["stages"][0]
        yield Statement.of(
            "INSERT INTO {schema}.processes (tenant_id, id, kind, title, stages, stage, due_at, "
            "data, version, opened_at, updated_at, position, definition_key, definition_version, "
            "stage_entered_at, sla_due_at, next_timer_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
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
            d.get("definition_key"),
            d.get("definition_version"),
            entered_at(e),
            when(d.get("sla_due_at")),
            next_timer_of(d),
        )
        yield Statement.of(
            HISTORY, e.tenant_id, e.originator_id, e.position, first, None, None, entered_at(e)
        )

    @handles(event_class(Process, "StageEntered"))
    def stage_entered(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        yield versioned_update(
            "processes",
            "stage = %s, approvals = '{}', stage_entered_at = %s, sla_due_at = %s, "
            "sla_breached = false, next_timer_at = %s",
            e,
            d["stage"],
            entered_at(e),
            when(d.get("sla_due_at")),
            next_timer_of(d),
        )
        yield Statement.of(
            HISTORY,
            e.tenant_id,
            e.originator_id,
            e.position,
            d["stage"],
            d["previous"],
            d.get("transition"),
            entered_at(e),
        )

    @handles(event_class(Process, "DataSet"))
    def data_set(self, e: RecordedEvent) -> Iterator[Statement]:
        # `jsonb_strip_nulls` would reach into nested values too: only top-level nulls clear.
        changes = e.data["changes"]
        cleared = [k for k, v in changes.items() if v is None]
        kept = {k: v for k, v in changes.items() if v is not None}
        yield versioned_update(
            "processes", "data = (data - %s::text[]) || %s::jsonb", e, cleared, jsonb(kept)
        )

    @handles(event_class(Process, "SlaReminded"))
    def sla_reminded(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update("processes", "next_timer_at = %s", e, when(e.data["next_at"]))

    @handles(event_class(Process, "SlaBreached"))
    def sla_breached(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update(
            "processes",
            "sla_breached = true, next_timer_at = %s",
            e,
            when(e.data["next_at"]),
        )

    @handles(event_class(Process, "Approved"))
    def approved(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update(
            "processes", "approvals = array_append(approvals, %s)", e, e.data["actor"]
        )

    @handles(event_class(Process, "Rejected"))
    def rejected(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update("processes", "", e)  # the stage it enters next changes the row

    @handles(event_class(Process, "Migrated"))
    def migrated(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        moved = d["stage"] != d["previous"]
        due = when(d["sla_due_at"])
        later = [r for r in d["sla_reminders"] if datetime.fromisoformat(r["at"]) > e.timestamp]
        reminded = next_timer_of({"sla_reminders": later})
        # As the aggregate: a new stage starts afresh; in the same one a breach stays recorded.
        yield versioned_update(
            "processes",
            "definition_version = %s, stages = %s, stage = %s, "
            + (
                "approvals = '{}', stage_entered_at = %s, sla_breached = false, "
                "sla_due_at = %s, next_timer_at = LEAST(%s::timestamptz, %s::timestamptz)"
                if moved
                else "sla_due_at = CASE WHEN sla_breached THEN sla_due_at ELSE %s END, "
                "next_timer_at = LEAST(%s::timestamptz, "
                "CASE WHEN sla_breached THEN NULL ELSE %s::timestamptz END)"
            ),
            e,
            d["version"],
            d["stages"],
            d["stage"],
            *((entered_at(e), due, reminded, due) if moved else (due, reminded, due)),
        )
        if moved:
            yield Statement.of(
                HISTORY,
                e.tenant_id,
                e.originator_id,
                e.position,
                d["stage"],
                d["previous"],
                None,
                entered_at(e),
            )

    @handles(event_class(Tenant, "Created"), event_class(Tenant, "SettingsChanged"))
    def tenant_calendar(self, e: RecordedEvent) -> Iterator[Statement]:
        settings = {**DEFAULT_SETTINGS, **(e.data.get("settings") or {})}  # v1 Created had none
        yield Statement.of(
            "INSERT INTO {schema}.tenant_calendars (tenant_id, timezone, working_hours, "
            "holidays, version, position) VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (tenant_id) DO UPDATE SET timezone = EXCLUDED.timezone, "
            "working_hours = EXCLUDED.working_hours, holidays = EXCLUDED.holidays, "
            "version = EXCLUDED.version, position = EXCLUDED.position "
            "WHERE tenant_calendars.version < EXCLUDED.version",
            e.originator_id,
            settings["timezone"],
            jsonb(settings["working_hours"]),
            jsonb(settings["holidays"]),
            e.version,
            e.position,
        )

    @handles(event_class(ProcessDefinition, "Published"))
    def definition_published(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        yield Statement.of(
            "INSERT INTO {schema}.process_definitions (tenant_id, id, key, name, description, "
            "versions, published_at, version, created_at, updated_at, position) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (tenant_id, id) DO NOTHING",
            e.tenant_id,
            e.originator_id,
            d["key"],
            d["spec"]["name"],
            d["description"],
            jsonb([d["spec"]]),
            jsonb([e.timestamp.isoformat()]),
            e.version,
            e.timestamp,
            e.timestamp,
            e.position,
        )

    @handles(event_class(ProcessDefinition, "VersionPublished"))
    def definition_version_published(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        yield versioned_update(
            "process_definitions",
            "name = %s, description = %s, versions = versions || jsonb_build_array(%s::jsonb), "
            "published_at = published_at || jsonb_build_array(%s::text), retired = false",
            e,
            d["spec"]["name"],
            d["description"],
            jsonb(d["spec"]),
            e.timestamp.isoformat(),
        )

    @handles(event_class(ProcessDefinition, "Retired"))
    def definition_retired(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update("process_definitions", "retired = true", e)

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

"""Imports: each job's file, mapping, status and counts, for GraphQL and the import runner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from domain.import_job import ImportJob
from eventstore import RecordedEvent
from projections.base import Projection, Statement, event_class, handles, jsonb, versioned_update
from projections.imports.queries import IMPORT


class ImportsProjection(Projection):
    ddl = Path(__file__).with_name("schema.sql")
    tables = ("imports",)
    change_kinds = {"ImportJob": "import"}
    feeds = (IMPORT,)

    @handles(event_class(ImportJob, "Received"))
    def received(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        yield Statement.of(
            "INSERT INTO {schema}.imports (tenant_id, id, source, filename, file_format, size, "
            "sha256, entity_type_id, sheet, mapping, key_field, auto_start, actor, status, "
            "version, created_at, updated_at, position) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, "
            "%s, %s, %s, %s, %s, 'received', %s, %s, %s, %s) ON CONFLICT (tenant_id, id) DO NOTHING",
            e.tenant_id,
            e.originator_id,
            d["source"],
            d["filename"],
            d["file_format"],
            d["size"],
            d["sha256"],
            d["entity_type_id"],
            d["sheet"],
            jsonb(d["mapping"]),
            d["key_field"],
            d["auto_start"],
            d["actor"],
            e.version,
            e.timestamp,
            e.timestamp,
            e.position,
        )

    @handles(event_class(ImportJob, "Checked"))
    def checked(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        yield versioned_update(
            "imports",
            "status = 'checked', sheets = %s, mapping = %s, rows = %s, valid = %s, "
            "first_errors = %s",
            e,
            jsonb(d["sheets"]),
            jsonb(d["mapping"]),
            d["rows"],
            d["valid"],
            jsonb(d["first_errors"]),
        )

    @handles(event_class(ImportJob, "Refused"))
    def refused(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update(
            "imports",
            "status = 'refused', refusal = %s, finished_at = %s",
            e,
            e.data["reason"],
            e.timestamp,
        )

    @handles(event_class(ImportJob, "Started"))
    def started(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update(
            "imports",
            "status = 'applying', started_at = coalesce(started_at, %s), finished_at = NULL",
            e,
            e.timestamp,
        )

    @handles(event_class(ImportJob, "Progressed"))
    def progressed(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        yield versioned_update(
            "imports",
            "done = done + %s, failed = failed + %s, created = created + %s, "
            "updated = updated + %s",
            e,
            d["done"],
            d["failed"],
            d["created"],
            d["updated"],
        )

    @handles(event_class(ImportJob, "Completed"))
    def completed(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update("imports", "status = 'completed', finished_at = %s", e, e.timestamp)

    @handles(event_class(ImportJob, "Cancelled"))
    def cancelled(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update("imports", "status = 'cancelled', finished_at = %s", e, e.timestamp)

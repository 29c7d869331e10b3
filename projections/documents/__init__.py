"""Documents: metadata of attached files (the bytes stay in the content-addressed store)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from domain.document import Document
from eventstore import RecordedEvent
from projections.base import Projection, Statement, event_class, handles, versioned_update
from projections.documents.queries import DOCUMENT


class DocumentsProjection(Projection):
    ddl = Path(__file__).with_name("schema.sql")
    tables = ("documents",)
    change_kinds = {"Document": "document"}
    feeds = (DOCUMENT,)

    @handles(event_class(Document, "Attached"))
    def attached(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        yield Statement.of(
            "INSERT INTO {schema}.documents (tenant_id, id, target_kind, target_id, title, "
            "filename, content_type, size, sha256, version, created_at, updated_at, position) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (tenant_id, id) DO NOTHING",
            e.tenant_id,
            e.originator_id,
            d["target_kind"],
            d["target_id"],
            d["title"],
            d["filename"],
            d["content_type"],
            d["size"],
            d["sha256"],
            e.version,
            e.timestamp,
            e.timestamp,
            e.position,
        )

    @handles(event_class(Document, "Renamed"))
    def renamed(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update("documents", "title = %s", e, e.data["title"])

    @handles(event_class(Document, "Removed"))
    def removed(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update("documents", "removed = true", e)

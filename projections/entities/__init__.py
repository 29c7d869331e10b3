"""Entities and entity types: typed columns for what every query needs, JSONB for the rest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from domain.entity import Entity
from domain.entity_type import EntityType
from projections.base import (
    Projection,
    RecordedEvent,
    Rows,
    Statement,
    event_class,
    handles,
    q,
)

TITLE_NAMES = ("title", "name", "label")


def title_field(fields: list[dict[str, Any]]) -> str | None:
    """The field shown as an entity's title: a conventional name, else the first text field."""
    text = [f["name"] for f in fields if f.get("type") == "text"]
    named = [name for name in TITLE_NAMES if name in text]
    return (named or text or [None])[0]


def jsonb(value: Any) -> str:
    return orjson.dumps(value).decode()


def point(location: dict[str, float] | None) -> tuple[float | None, float | None]:
    return (location["lat"], location["lon"]) if location else (None, None)


class EntitiesProjection(Projection):
    name = "entities"
    ddl = Path(__file__).with_name("schema.sql")
    tables = ("entity_types", "entities")
    change_kinds = {"Entity": "entity", "EntityType": "entity_type"}
    ordering_aggregates = frozenset({"EntityType"})

    @handles(event_class(EntityType, "Defined"))
    def type_defined(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        yield q(
            "INSERT INTO {schema}.entity_types (tenant_id, id, name, description, fields, "
            "search_importance, title_field, schema_version, version, created_at, updated_at, "
            "position) VALUES (%s, %s, %s, %s, %s, %s, %s, 1, %s, %s, %s, %s) "
            "ON CONFLICT (tenant_id, id) DO NOTHING",
            e.tenant_id, e.originator_id, d["name"], d["description"], jsonb(d["fields"]),
            d["search_importance"], title_field(d["fields"]), e.version, e.timestamp,
            e.timestamp, e.position,
        )  # fmt: skip

    @handles(event_class(EntityType, "SchemaRevised"))
    def type_revised(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        yield q(
            "UPDATE {schema}.entity_types SET fields = %s, search_importance = %s, "
            "title_field = %s, schema_version = %s, version = %s, updated_at = %s, position = %s "
            "WHERE tenant_id = %s AND id = %s",
            jsonb(d["fields"]), d["search_importance"], title_field(d["fields"]),
            d["schema_version"], e.version, e.timestamp, e.position, e.tenant_id, e.originator_id,
        )  # fmt: skip

    @handles(event_class(EntityType, "Retired"))
    def type_retired(self, e: RecordedEvent) -> Iterator[Statement]:
        yield q(
            "UPDATE {schema}.entity_types SET retired = true, version = %s, updated_at = %s, "
            "position = %s WHERE tenant_id = %s AND id = %s",
            e.version, e.timestamp, e.position, e.tenant_id, e.originator_id,
        )  # fmt: skip

    @handles(event_class(Entity, "Created"))
    def created(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        lat, lon = point(d["location"])
        yield CREATED.of(
            e.tenant_id, e.originator_id, d["entity_type_id"], e.version, d["schema_version"],
            d["data"], lat, lon, e.timestamp, e.timestamp, e.position,
        )  # fmt: skip

    @handles(event_class(Entity, "Updated"))
    def updated(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        lat, lon = point(d["location"])
        yield UPDATED.of(
            e.tenant_id, e.originator_id, e.version, d["schema_version"], d["changes"], lat, lon,
            e.timestamp, e.position,
        )  # fmt: skip

    @handles(event_class(Entity, "Archived"))
    def archived(self, e: RecordedEvent) -> Iterator[Statement]:
        yield ARCHIVED.of(e.tenant_id, e.originator_id, e.version, e.timestamp, e.position)

    def fold(self, earlier: Statement, later: Statement) -> Statement | None:
        """An entity created and updated in one batch is inserted as it is after the update."""
        if earlier.rows is not CREATED or later.rows is not UPDATED:
            return None
        row, update = CREATED.row(earlier), UPDATED.row(later)
        row |= {k: update[k] for k in ("version", "schema_version", "lat", "lon", "position")}
        row |= {"data": with_changes(row["data"], update["changes"]), "updated_at": update["ts"]}
        return Statement(earlier.sql, row, CREATED)


def strip_nulls(value: Any) -> Any:
    """PostgreSQL's `jsonb_strip_nulls`: object fields that are null go, at every depth."""
    if isinstance(value, dict):
        return {
            k: strip_nulls(v) if isinstance(v, dict | list) else v
            for k, v in value.items()
            if v is not None
        }
    if isinstance(value, list):
        return [strip_nulls(v) if isinstance(v, dict | list) else v for v in value]
    return value


def with_changes(data: dict[str, Any], changes: dict[str, Any]) -> Any:
    """An entity's data after an update: `jsonb_strip_nulls(data || changes)`, as in SQL."""
    return strip_nulls({**data, **changes})


CREATED = Rows(
    "INSERT INTO {schema}.entities (tenant_id, id, entity_type_id, version, schema_version, "
    "title, importance, data, lat, lon, created_at, updated_at, position) "
    "SELECT r.tenant_id, r.id, r.type_id, r.version, r.schema_version, "
    "r.data ->> t.title_field, (r.data ->> t.search_importance)::double precision, "
    "r.data, r.lat, r.lon, r.created_at, r.updated_at, r.position FROM {rows} "
    "LEFT JOIN {schema}.entity_types t ON t.tenant_id = r.tenant_id AND t.id = r.type_id "
    "ON CONFLICT (tenant_id, id) DO NOTHING",
    tenant_id="uuid", id="uuid", type_id="uuid", version="int", schema_version="int",
    data="jsonb", lat="float8", lon="float8", created_at="timestamptz",
    updated_at="timestamptz", position="bigint",
)  # fmt: skip
UPDATED = Rows(
    "UPDATE {schema}.entities x SET data = n.data, title = n.data ->> t.title_field, "
    "importance = (n.data ->> t.search_importance)::double precision, version = n.version, "
    "schema_version = n.schema_version, lat = n.lat, lon = n.lon, updated_at = n.ts, "
    "position = n.position "
    "FROM (SELECT r.*, e.entity_type_id, jsonb_strip_nulls(e.data || r.changes) AS data "
    "      FROM {rows} JOIN {schema}.entities e ON e.tenant_id = r.tenant_id AND e.id = r.id "
    "      WHERE e.version < r.version) n "
    "LEFT JOIN {schema}.entity_types t "
    "  ON t.tenant_id = n.tenant_id AND t.id = n.entity_type_id "
    "WHERE x.tenant_id = n.tenant_id AND x.id = n.id",
    tenant_id="uuid", id="uuid", version="int", schema_version="int", changes="jsonb",
    lat="float8", lon="float8", ts="timestamptz", position="bigint",
)  # fmt: skip
ARCHIVED = Rows(
    "UPDATE {schema}.entities x SET archived = true, version = r.version, updated_at = r.ts, "
    "position = r.position FROM {rows} "
    "WHERE x.tenant_id = r.tenant_id AND x.id = r.id AND x.version < r.version",
    tenant_id="uuid", id="uuid", version="int", ts="timestamptz", position="bigint",
)  # fmt: skip

"""Entities and entity types: typed columns for what every query needs, JSONB for the rest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from domain.entity import Entity
from domain.entity_type import EntityType
from projections.base import Projection, RecordedEvent, Statement, event_class, handles, q

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
        yield q(
            "INSERT INTO {schema}.entities (tenant_id, id, entity_type_id, version, "
            "schema_version, title, importance, data, lat, lon, created_at, updated_at, position) "
            "SELECT n.tenant_id, n.id, n.type_id, n.version, n.schema_version, "
            "n.data ->> t.title_field, (n.data ->> t.search_importance)::double precision, "
            "n.data, n.lat, n.lon, n.ts, n.ts, n.position "
            "FROM (SELECT %s::uuid AS tenant_id, %s::uuid AS id, %s::uuid AS type_id, "
            "%s::int AS version, %s::int AS schema_version, %s::jsonb AS data, "
            "%s::float8 AS lat, %s::float8 AS lon, %s::timestamptz AS ts, %s::bigint AS position) n "
            "LEFT JOIN {schema}.entity_types t ON t.tenant_id = n.tenant_id AND t.id = n.type_id "
            "ON CONFLICT (tenant_id, id) DO NOTHING",
            e.tenant_id, e.originator_id, d["entity_type_id"], e.version, d["schema_version"],
            jsonb(d["data"]), lat, lon, e.timestamp, e.position,
        )  # fmt: skip

    @handles(event_class(Entity, "Updated"))
    def updated(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        lat, lon = point(d["location"])
        yield q(
            "UPDATE {schema}.entities x SET data = n.data, "
            "title = n.data ->> t.title_field, "
            "importance = (n.data ->> t.search_importance)::double precision, "
            "version = %s, schema_version = %s, lat = %s, lon = %s, updated_at = %s, position = %s "
            "FROM (SELECT tenant_id, id, entity_type_id, jsonb_strip_nulls(data || %s::jsonb) AS data "
            "      FROM {schema}.entities WHERE tenant_id = %s AND id = %s) n "
            "LEFT JOIN {schema}.entity_types t "
            "  ON t.tenant_id = n.tenant_id AND t.id = n.entity_type_id "
            "WHERE x.tenant_id = n.tenant_id AND x.id = n.id AND x.version < %s",
            e.version, d["schema_version"], lat, lon, e.timestamp, e.position,
            jsonb(d["changes"]), e.tenant_id, e.originator_id, e.version,
        )  # fmt: skip

    @handles(event_class(Entity, "Archived"))
    def archived(self, e: RecordedEvent) -> Iterator[Statement]:
        yield q(
            "UPDATE {schema}.entities SET archived = true, version = %s, updated_at = %s, "
            "position = %s WHERE tenant_id = %s AND id = %s AND version < %s",
            e.version, e.timestamp, e.position, e.tenant_id, e.originator_id, e.version,
        )  # fmt: skip

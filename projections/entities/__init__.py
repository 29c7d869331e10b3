"""Entities and entity types: typed columns for what every query needs, JSONB for the rest."""

# ruff: noqa: S608 - SQL here is assembled from module constants only; values are parameters.
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from domain.entity import Entity
from domain.entity_type import EntityType
from eventstore import RecordedEvent
from projections.base import (
    Projection,
    Rows,
    Statement,
    event_class,
    handles,
    jsonb,
    versioned_update,
)
from projections.entities.queries import ENTITY, ENTITY_TYPE

TITLE_NAMES = ("title", "name", "label")


def title_field(fields: list[dict[str, Any]]) -> str | None:
    """The field shown as an entity's title: a conventional name, else the first text field;
    never a personal one (a title is copied out of `data`, into lists and search)."""
    text = [f["name"] for f in fields if f.get("type") == "text" and not f.get("personal")]
    named = [name for name in TITLE_NAMES if name in text]
    return (named or text or [None])[0]


def located(data: str, location_field: str, given: str, coordinate: str) -> str:
    """An entity's `lat` or `lon`: its type's location field when the type names one (the
    field absent or null: no location), else the top-level location its commands gave."""
    return (
        f"CASE WHEN {location_field} IS NULL THEN {given} "
        f"ELSE ({data} -> {location_field} ->> '{coordinate}')::double precision END"
    )


def point(location: dict[str, float] | None) -> tuple[float | None, float | None]:
    return (location["lat"], location["lon"]) if location else (None, None)


class EntitiesProjection(Projection):
    ddl = Path(__file__).with_name("schema.sql")
    tables = ("entity_types", "entities")
    change_kinds = {"Entity": "entity", "EntityType": "entity_type"}
    feeds = (ENTITY, ENTITY_TYPE)
    ordering_aggregates = frozenset({"EntityType"})

    @handles(event_class(EntityType, "Defined"))
    def type_defined(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        yield Statement.of(
            "INSERT INTO {schema}.entity_types (tenant_id, id, name, description, fields, "
            "search_importance, location_field, title_field, schema_version, version, "
            "created_at, updated_at, position) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 1, %s, %s, %s, %s) "
            "ON CONFLICT (tenant_id, id) DO NOTHING",
            e.tenant_id,
            e.originator_id,
            d["name"],
            d["description"],
            jsonb(d["fields"]),
            d["search_importance"],
            d.get("location_field"),
            title_field(d["fields"]),
            e.version,
            e.timestamp,
            e.timestamp,
            e.position,
        )

    @handles(event_class(EntityType, "SchemaRevised"))
    def type_revised(self, e: RecordedEvent) -> Iterator[Statement]:
        """Update the type, then move its entities if it now locates them otherwise."""
        d = e.data
        yield Statement.of(
            "UPDATE {schema}.entity_types SET fields = %s, search_importance = %s, "
            "location_field = %s, title_field = %s, schema_version = %s, version = %s, "
            "updated_at = %s, position = %s WHERE tenant_id = %s AND id = %s",
            jsonb(d["fields"]),
            d["search_importance"],
            d.get("location_field"),
            title_field(d["fields"]),
            d["schema_version"],
            e.version,
            e.timestamp,
            e.position,
            e.tenant_id,
            e.originator_id,
        )
        yield Statement.of(RELOCATED, e.tenant_id, e.originator_id)

    @handles(event_class(EntityType, "Retired"))
    def type_retired(self, e: RecordedEvent) -> Iterator[Statement]:
        yield Statement.of(
            "UPDATE {schema}.entity_types SET retired = true, version = %s, updated_at = %s, "
            "position = %s WHERE tenant_id = %s AND id = %s",
            e.version,
            e.timestamp,
            e.position,
            e.tenant_id,
            e.originator_id,
        )

    @handles(event_class(Entity, "Created"))
    def created(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        lat, lon = point(d["location"])
        yield CREATED.of(
            e.tenant_id,
            e.originator_id,
            d["entity_type_id"],
            e.version,
            d["schema_version"],
            d["data"],
            lat,
            lon,
            e.timestamp,
            e.timestamp,
            e.position,
        )

    @handles(event_class(Entity, "Updated"))
    def updated(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        lat, lon = point(d["location"])
        yield UPDATED.of(
            e.tenant_id,
            e.originator_id,
            e.version,
            d["schema_version"],
            d["changes"],
            lat,
            lon,
            e.timestamp,
            e.position,
        )

    @handles(event_class(Entity, "Archived"))
    def archived(self, e: RecordedEvent) -> Iterator[Statement]:
        yield ARCHIVED.of(e.tenant_id, e.originator_id, e.version, e.timestamp, e.position)

    @handles(event_class(Entity, "Forgotten"))
    def forgotten(self, e: RecordedEvent) -> Iterator[Statement]:
        """The personal fields leave `data`; a rebuild has them null already (no key)."""
        yield versioned_update("entities", "data = data - %s::text[]", e, e.data["fields"])

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
    "title, importance, data, lat, lon, given_lat, given_lon, created_at, updated_at, position) "
    "SELECT r.tenant_id, r.id, r.type_id, r.version, r.schema_version, "
    "r.data ->> t.title_field, (r.data ->> t.search_importance)::double precision, r.data, "
    f"{located('r.data', 't.location_field', 'r.lat', 'lat')}, "
    f"{located('r.data', 't.location_field', 'r.lon', 'lon')}, "
    "r.lat, r.lon, r.created_at, r.updated_at, r.position FROM {rows} "
    "LEFT JOIN {schema}.entity_types t ON t.tenant_id = r.tenant_id AND t.id = r.type_id "
    "ON CONFLICT (tenant_id, id) DO NOTHING",
    tenant_id="uuid",
    id="uuid",
    type_id="uuid",
    version="int",
    schema_version="int",
    data="jsonb",
    lat="float8",
    lon="float8",
    created_at="timestamptz",
    updated_at="timestamptz",
    position="bigint",
)
UPDATED = Rows(
    "UPDATE {schema}.entities x SET data = n.data, title = n.data ->> t.title_field, "
    "importance = (n.data ->> t.search_importance)::double precision, version = n.version, "
    "schema_version = n.schema_version, "
    f"lat = {located('n.data', 't.location_field', 'n.lat', 'lat')}, "
    f"lon = {located('n.data', 't.location_field', 'n.lon', 'lon')}, "
    "given_lat = n.lat, given_lon = n.lon, updated_at = n.ts, position = n.position "
    "FROM (SELECT r.*, e.entity_type_id, jsonb_strip_nulls(e.data || r.changes) AS data "
    "      FROM {rows} JOIN {schema}.entities e ON e.tenant_id = r.tenant_id AND e.id = r.id "
    "      WHERE e.version < r.version) n "
    "LEFT JOIN {schema}.entity_types t "
    "  ON t.tenant_id = n.tenant_id AND t.id = n.entity_type_id "
    "WHERE x.tenant_id = n.tenant_id AND x.id = n.id",
    tenant_id="uuid",
    id="uuid",
    version="int",
    schema_version="int",
    changes="jsonb",
    lat="float8",
    lon="float8",
    ts="timestamptz",
    position="bigint",
)
RELOCATED = (
    "UPDATE {schema}.entities x SET "
    f"lat = {located('x.data', 't.location_field', 'x.given_lat', 'lat')}, "
    f"lon = {located('x.data', 't.location_field', 'x.given_lon', 'lon')} "
    "FROM {schema}.entity_types t WHERE t.tenant_id = %s AND t.id = %s "
    "AND x.tenant_id = t.tenant_id AND x.entity_type_id = t.id AND ("
    f"x.lat IS DISTINCT FROM {located('x.data', 't.location_field', 'x.given_lat', 'lat')} OR "
    f"x.lon IS DISTINCT FROM {located('x.data', 't.location_field', 'x.given_lon', 'lon')})"
)
"""After a revision: each entity of the type where the type's (new) location rule puts it."""
ARCHIVED = Rows(
    "UPDATE {schema}.entities x SET archived = true, version = r.version, updated_at = r.ts, "
    "position = r.position FROM {rows} "
    "WHERE x.tenant_id = r.tenant_id AND x.id = r.id AND x.version < r.version",
    tenant_id="uuid",
    id="uuid",
    version="int",
    ts="timestamptz",
    position="bigint",
)

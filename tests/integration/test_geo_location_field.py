"""An entity type's location field: its geo_point value is what nearby/within find.

Commands over HTTP, reads through GraphQL's geo queries, the read side running.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import psycopg
import pytest

from domain.entity_type import EntityType
from domain.ids import tenant_id_for
from tests.integration.test_graphql import GraphQL, serving

JERUSALEM = {"lat": 31.7683, "lon": 35.2137}
TEL_AVIV = {"lat": 32.0853, "lon": 34.7818}
HAIFA = {"lat": 32.7940, "lon": 34.9896}
NEAR = "query($lat: Float!, $lon: Float!) { nearby(lat: $lat, lon: $lon, first: 10) { hits { title lat lon } } }"
BOX = """{ within(south: 29.0, west: 34.0, north: 33.0, east: 36.0) { hits { title }
           geojson } }"""
SITE_FIELDS = [
    {"name": "name", "type": "text", "required": True},
    {"name": "site", "type": "geo_point"},
    {"name": "gate", "type": "geo_point"},
    {"name": "staff", "type": "integer"},
]


@pytest.fixture
async def graphql(runtime: Any, api: Any) -> AsyncIterator[GraphQL]:
    async with serving(runtime, api.token) as client:
        yield client


async def located(graphql: GraphQL, position: int, at: dict[str, float] = JERUSALEM) -> list[Any]:
    found = await graphql.data(NEAR, at, min_position=position)
    return [(h["title"], h["lat"], h["lon"]) for h in found["nearby"]["hits"]]


async def depots(api: Any, **type_options: Any) -> str:
    reply = await api.command(
        "define-entity-type", name="Depot", fields=SITE_FIELDS, **type_options
    )
    return reply.id


async def test_the_named_field_is_the_location_and_follows_updates(api, graphql, read_side):
    type_id = await depots(api, location_field="site")
    a = await api.command(
        "create-entity", entity_type_id=type_id, data={"name": "A", "site": JERUSALEM}
    )
    b = await api.command(
        "create-entity", entity_type_id=type_id, data={"name": "B", "gate": TEL_AVIV}
    )  # another geo_point field is just data
    assert await located(graphql, b.position) == [("A", JERUSALEM["lat"], JERUSALEM["lon"])]
    box = await graphql.data(BOX, min_position=b.position)
    assert [h["title"] for h in box["within"]["hits"]] == ["A"]
    [feature] = box["within"]["geojson"]["features"]
    assert feature["geometry"]["coordinates"] == [JERUSALEM["lon"], JERUSALEM["lat"]]

    moved = await api.command("update-entity", entity_id=a.id, data={"site": HAIFA})
    assert await located(graphql, moved.position) == [("A", HAIFA["lat"], HAIFA["lon"])]
    entity = await graphql.data(
        "query($id: UUID!) { entity(id: $id) { lat lon entityType { locationField } } }",
        {"id": a.id}, min_position=moved.position,
    )  # fmt: skip
    assert entity["entity"] == {
        "lat": HAIFA["lat"], "lon": HAIFA["lon"], "entityType": {"locationField": "site"},
    }  # fmt: skip
    untouched = await api.command("update-entity", entity_id=a.id, data={"staff": 3})
    assert await located(graphql, untouched.position) == [("A", HAIFA["lat"], HAIFA["lon"])]
    cleared = await api.command("update-entity", entity_id=a.id, data={"site": None})
    assert await located(graphql, cleared.position) == []


async def test_a_top_level_location_beside_the_field_is_refused(api, graphql, read_side):
    type_id = await depots(api, location_field="site")
    body = {"entity_type_id": type_id, "data": {"name": "A", "site": JERUSALEM}}
    refused = await api.post("create-entity", {**body, "location": TEL_AVIV})
    assert refused.status == 422
    [error] = refused.body["errors"]
    assert error["path"] == ["location"]
    assert "data.site" in error["message"]
    a = await api.command("create-entity", **body)
    for change in ({"location": TEL_AVIV}, {"clear_location": True}):
        again = await api.post("update-entity", {"entity_id": a.id, **change})
        assert (again.status, again.body["errors"][0]["path"]) == (422, ["location"])
    assert await located(graphql, a.position) == [("A", JERUSALEM["lat"], JERUSALEM["lon"])]


async def test_the_location_field_must_be_a_geo_point_of_the_type(api):
    for options in ({"location_field": "staff"}, {"location_field": "nowhere"}):
        refused = await api.post(
            "define-entity-type", {"name": "Depot", "fields": SITE_FIELDS, **options}
        )
        assert refused.status == 422, refused.body
        assert [e["path"] for e in refused.body["errors"]] == [["location_field"]]
    type_id = await depots(api)
    revised = await api.post(
        "revise-entity-type",
        {"entity_type_id": type_id, "fields": SITE_FIELDS[:1], "location_field": "site"},
    )
    assert revised.status == 422, revised.body
    assert [e["path"] for e in revised.body["errors"]] == [["location_field"]]


async def test_revising_the_location_field_moves_existing_entities(api, graphql, read_side):
    type_id = await depots(api)
    await api.command(
        "create-entity", entity_type_id=type_id, data={"name": "A", "site": HAIFA},
        location=TEL_AVIV,
    )  # fmt: skip
    b = await api.command("create-entity", entity_type_id=type_id, data={"name": "B"})
    assert await located(graphql, b.position) == [("A", TEL_AVIV["lat"], TEL_AVIV["lon"])]

    named = await api.command(
        "revise-entity-type", entity_type_id=type_id, fields=SITE_FIELDS, location_field="site"
    )
    assert await located(graphql, named.position) == [("A", HAIFA["lat"], HAIFA["lon"])]
    other = await api.command(
        "revise-entity-type", entity_type_id=type_id, fields=SITE_FIELDS, location_field="gate"
    )
    assert await located(graphql, other.position) == []
    set_gate = await api.command("update-entity", entity_id=b.id, data={"gate": JERUSALEM})
    assert await located(graphql, set_gate.position) == [("B", JERUSALEM["lat"], JERUSALEM["lon"])]
    # naming no field again: the top-level location the commands gave counts again
    unnamed = await api.command("revise-entity-type", entity_type_id=type_id, fields=SITE_FIELDS)
    assert await located(graphql, unnamed.position) == [("A", TEL_AVIV["lat"], TEL_AVIV["lon"])]


async def test_v1_entity_type_events_load_without_a_location_field(api, database_url):
    """EntityType.Defined and SchemaRevised v1 had no location_field: upcast to None."""
    tenant = tenant_id_for("acme")
    type_id = EntityType.create_id(tenant, "Legacy")
    fields = [{"name": "name", "type": "text", "label": None, "required": False,
               "default": None, "unique": False, "searchable": None, "constraints": {}}]  # fmt: skip
    defined = {"timestamp": "2024-01-01T00:00:00+00:00", "originator_topic":
               "domain.entity_type:EntityType", "tenant_id": str(tenant), "name": "Legacy", "description": "", "fields": fields,
               "search_importance": None}  # fmt: skip
    revised = {"timestamp": "2024-01-02T00:00:00+00:00", "fields": fields,
               "search_importance": None, "schema_version": 2}  # fmt: skip
    with psycopg.connect(database_url) as conn:
        for version, topic, state in ((1, "Defined", defined), (2, "SchemaRevised", revised)):
            conn.execute(
                "INSERT INTO bsdflow_events (originator_id, originator_version, topic, state) "
                "VALUES (%s, %s, %s, %s)",
                (type_id, version, f"domain.entity_type:EntityType.{topic}", orjson.dumps(state)),
            )
    legacy = api.runtime.store.find(EntityType, type_id)
    assert (legacy.schema_version, legacy.location_field) == (2, None)

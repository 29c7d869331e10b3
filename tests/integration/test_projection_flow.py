"""Commands reach the read models through the relay, Kafka and the projection workers."""

from __future__ import annotations

import psycopg


def rows(database_url, sql, *params):
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql, params).fetchall()


async def test_an_entity_reaches_its_read_model(api, database_url, settled):
    site = await api.command(
        "define-entity-type",
        name="Site",
        fields=[
            {"name": "title", "type": "text", "required": True},
            {"name": "pop", "type": "integer"},
        ],
        search_importance="pop",
    )
    created = await api.command(
        "create-entity",
        entity_type_id=site.id,
        data={"title": "Jerusalem", "pop": 936000},
        location={"lat": 31.77, "lon": 35.21},
    )
    updated = await api.command(
        "update-entity", entity_id=created.id, data={"title": "Yerushalayim"}
    )
    await settled(updated.position)
    assert rows(
        database_url, "SELECT title, importance, lat, version FROM rm_entities.entities"
    ) == [("Yerushalayim", 936000.0, 31.77, 2)]
    assert rows(database_url, "SELECT name, title_field FROM rm_entities.entity_types") == [
        ("Site", "title")
    ]

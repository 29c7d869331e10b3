"""Search and geo: commands in, then the query classes as the API reads (reader role + tenant).

Search must forgive typos and accents, rank the better match first, let importance break ties,
span every kind, and never show another tenant's records. Geo must return exactly the records
in a radius or box (across the antimeridian too) and the nearest first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
import pytest

from domain.ids import tenant_id_for
from infra.readdb import prepare_schema
from projections.geo import GeoReads, to_geojson
from projections.rebuild import rebuild
from projections.search import SearchProjection
from projections.search.queries import SearchHit, SearchReads

ACME = tenant_id_for("acme")
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC).isoformat()


@asynccontextmanager
async def reading(database_url: str, tenant: UUID | None = ACME) -> AsyncIterator[Any]:
    """A transaction as the API reads it: the reader role, the tenant set for this transaction."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn, conn.transaction():
        await conn.execute("SET LOCAL ROLE bsdflow_reader")
        if tenant is not None:
            await conn.execute("SELECT set_config('bsdflow.tenant_id', %s, true)", (str(tenant),))
        yield conn


async def search(
    database_url: str, query: str, tenant: UUID | None = ACME, **kw: Any
) -> list[SearchHit]:
    async with reading(database_url, tenant) as conn:
        return (await SearchReads(conn).search(query, **kw)).items


def titles(hits: list[SearchHit]) -> list[str]:
    return [hit.title for hit in hits]


async def city_type(api: Any) -> str:
    reply = await api.command(
        "define-entity-type",
        name="City",
        fields=[
            {"name": "name", "type": "text", "required": True, "searchable": "A"},
            {"name": "description", "type": "long_text", "searchable": "C"},
            {"name": "population", "type": "integer"},
            {"name": "code", "type": "text"},
        ],
        search_importance="population",
    )
    return reply.id


async def city(api: Any, type_id: str, name: str, population: int, **more: Any) -> Any:
    location = more.pop("location", None)
    data = {"name": name, "population": population, **more}
    return await api.command("create-entity", entity_type_id=type_id, data=data, location=location)


async def test_typos_accents_ranking_and_kinds(api, database_url, settled):
    cities = await city_type(api)
    jerusalem = await city(api, cities, "Jerusalem", 936_000, description="Old city, holy sites")
    await city(api, cities, "São Paulo", 12_330_000)
    trip = await api.command("open-process", kind="travel", title="Trip to Jerusalem", stages=["a"])
    await api.command("open-process", kind="audit", title="Workflow audit", stages=["draft"])
    await api.command("open-process", kind="planning", title="Workflows backlog", stages=["a"])
    doc = await api.attach(
        "process", trip.id, "We met in Jerusalém, by the old gate.".encode(), "Minutes"
    )
    await settled(doc["position"])

    # a typo'd word finds its match, with the matched word highlighted
    [hit] = await search(database_url, "Jerusalm", kinds=["entity"])
    assert (hit.kind, hit.id, hit.title) == ("entity", UUID(jerusalem.id), "Jerusalem")
    assert "<b>Jerusalem</b>" in hit.snippet

    # the closer spelling ranks first
    assert titles(await search(database_url, "wrkflow")) == ["Workflow audit", "Workflows backlog"]
    # two words, one of them typo'd
    assert titles(await search(database_url, "wrkflow audit")) == ["Workflow audit"]
    assert titles(await search(database_url, "sao paolo")) == ["São Paulo"]

    # one query spans kinds; a title match beats a body match; importance breaks the tie
    # between the city and the process, both matching in their title
    hits = await search(database_url, "jerusalem")
    assert [h.kind for h in hits] == ["entity", "process", "document"]
    assert hits[0].rank == pytest.approx(hits[1].rank)
    assert hits[1].rank > hits[2].rank
    # accents never matter, in the query or in the text, and the snippet keeps them
    assert [h.id for h in await search(database_url, "JERUSALÉM")] == [h.id for h in hits]
    [document] = await search(database_url, "jerusalem", kinds=["document"])
    assert document.title == "Minutes"
    assert "<b>Jerusalém</b>" in document.snippet
    [sao] = await search(database_url, "sao")
    assert sao.snippet.startswith("<b>São</b> Paulo")
    assert await search(database_url, "jerusalem", kinds=["participant", "occurrence"]) == []
    assert await search(database_url, "xylophone") == []


async def test_importance_breaks_ties(api, database_url, settled):
    cities = await city_type(api)
    small = await city(api, cities, "Springfield", 30_000, description="A town in the hills.")
    large = await city(api, cities, "Springfield", 170_000)
    await settled(large.position)
    hits = await search(database_url, "springfield")
    assert [str(h.id) for h in hits] == [large.id, small.id]
    assert [h.importance for h in hits] == [170_000.0, 30_000.0]
    fuzzy = await search(database_url, "sprngfield")
    assert [str(h.id) for h in fuzzy] == [large.id, small.id]
    assert fuzzy[0].rank < hits[0].rank  # a typo costs rank


async def test_every_kind_is_indexed_and_follows_changes(api, database_url, settled):
    cities = await city_type(api)
    haifa = await city(api, cities, "Haifa", 285_000, code="HFA-01")
    ann = await api.command(
        "register-participant", name="Ann Lovelace", email="ann@analytical.example"
    )
    incident = await api.command(
        "record-occurrence", kind="incident", occurred_at=NOW,
        data={"note": "Pipe burst near the harbour", "tags": ["plumbing", "urgent"]},
    )  # fmt: skip
    case = await api.command(
        "open-process", kind="repair", title="Harbour pipes", stages=["a", "b"]
    )
    doc = await api.attach("entity", haifa.id, b"Fish & Chips <Shop> on the harbour", "Menu")
    await settled(doc["position"])

    assert titles(await search(database_url, "ann")) == ["Ann Lovelace"]
    assert titles(await search(database_url, "analytical")) == ["Ann Lovelace"]
    assert titles(await search(database_url, "plumbing")) == ["incident"]
    assert await search(database_url, "hfa") == []  # an unmarked field is not searchable
    [menu] = await search(database_url, "fish")
    assert "<b>Fish</b> &amp; Chips &lt;Shop&gt;" in menu.snippet  # only <b> is markup

    # marking a field searchable reindexes the type's entities
    await api.command(
        "revise-entity-type",
        entity_type_id=cities,
        fields=[
            {"name": "name", "type": "text", "required": True, "searchable": "A"},
            {"name": "description", "type": "long_text", "searchable": "C"},
            {"name": "population", "type": "integer"},
            {"name": "code", "type": "text", "searchable": "B"},
        ],
        search_importance="population",
    )
    changes = [
        await api.command("update-entity", entity_id=haifa.id, data={"name": "Hefa"}),
        await api.command(
            "update-participant", participant_id=ann.id, changes={"email": "ada@engine.example"}
        ),
        await api.command("enter-stage", process_id=case.id, stage="b"),
        await api.command("close-process", process_id=case.id, outcome="welded"),
        await api.command("rename-document", document_id=doc["id"], title="Harbour menu"),
    ]
    await settled(changes[-1].position)
    assert titles(await search(database_url, "hfa")) == ["Hefa"]
    assert await search(database_url, "haifa") == []
    assert await search(database_url, "analytical") == []
    assert titles(await search(database_url, "engine")) == ["Ann Lovelace"]
    assert titles(await search(database_url, "welded")) == ["Harbour pipes"]
    assert titles(await search(database_url, "harbour", kinds=["document"])) == ["Harbour menu"]

    gone = [
        await api.command("archive-entity", entity_id=haifa.id),
        await api.command("retract-occurrence", occurrence_id=incident.id, reason="duplicate"),
        await api.command("remove-document", document_id=doc["id"]),
    ]
    await settled(gone[-1].position)
    assert await search(database_url, "hefa") == []
    assert await search(database_url, "plumbing") == []
    assert titles(await search(database_url, "harbour")) == ["Harbour pipes"]


async def test_pages_follow_the_ranking(api, database_url, settled):
    cities = await city_type(api)
    replies = [await city(api, cities, f"Depot {n}", n * 1000) for n in range(1, 8)]
    await settled(replies[-1].position)
    seen, after = [], None
    async with reading(database_url) as conn:
        while True:
            page = await SearchReads(conn).search("depot", first=3, after=after)
            seen += [hit.importance for hit in page.items]
            if not page.has_next:
                break
            after = page.end_cursor
    assert seen == [float(n * 1000) for n in range(7, 0, -1)]


async def test_another_tenant_finds_nothing_of_ours(api, database_url, settled):
    await city(api, await city_type(api), "Jerusalem", 936_000)
    platform = api.mint("platform", "platform")
    await api.command("create-tenant", token=platform, slug="globex", name="Globex")
    globex = api.mint("globex", "admin")
    theirs = await api.command("open-process", token=globex, kind="audit", title="Jerusalem audit",
                               stages=["a"])  # fmt: skip
    await settled(theirs.position)
    assert [h.kind for h in await search(database_url, "jerusalem")] == ["entity"]
    other = tenant_id_for("globex")
    assert titles(await search(database_url, "jerusalem", other)) == ["Jerusalem audit"]
    assert await search(database_url, "jerusalm", other, kinds=["entity"]) == []
    assert await search(database_url, "jerusalem", None) == []  # no tenant set: nothing


async def test_a_rebuilt_search_index_equals_the_live_one(api, database_url, settled):
    cities = await city_type(api)
    haifa = await city(api, cities, "Haifa", 285_000, description="Port on the bay")
    await api.command("update-entity", entity_id=haifa.id, data={"description": "Harbour city"})
    await api.command("register-participant", name="Ann Lovelace", email="ann@engine.example")
    case = await api.command("open-process", kind="repair", title="Harbour pipes", stages=["a"])
    await api.attach("process", case.id, b"Weld the harbour pipes", "Plan")
    last = await api.command("close-process", process_id=case.id, outcome="welded")
    await settled(last.position)
    live = search_tables(database_url)
    with psycopg.connect(database_url) as conn:
        rebuild(conn, SearchProjection(), prepare_schema, chunk=3)
    assert search_tables(database_url) == live
    # the swapped-in schema serves searches, through its own functions
    assert titles(await search(database_url, "harbur")) == ["Harbour pipes", "Haifa", "Plan"]


def search_tables(database_url: str) -> dict[str, list[Any]]:
    with psycopg.connect(database_url) as conn:
        return {
            table: conn.execute(
                f"SELECT to_jsonb(t) FROM rm_search.{table} t ORDER BY to_jsonb(t)::text"
            ).fetchall()
            for table in SearchProjection.tables
        }


# --- geo ----------------------------------------------------------------------------------

PLACES = {
    "Jerusalem": (31.7683, 35.2137),
    "Tel Aviv": (32.0853, 34.7818),
    "Haifa": (32.7940, 34.9896),
    "Eilat": (29.5577, 34.9519),
    "London": (51.5072, -0.1276),
    "Suva": (-18.1416, 178.4419),
    "Apia": (-13.8333, -171.7667),
    "Honolulu": (21.3069, -157.8583),
}


async def places(api: Any, settled: Any) -> dict[str, str]:
    cities = await city_type(api)
    ids = {}
    for name, (lat, lon) in PLACES.items():
        reply = await city(api, cities, name, 1, location={"lat": lat, "lon": lon})
        ids[name] = reply.id
    await city(api, cities, "Nowhere", 1)  # no location: never a geo hit
    archived = await city(api, cities, "Bethlehem", 1, location={"lat": 31.7054, "lon": 35.2024})
    done = await api.command("archive-entity", entity_id=archived.id)
    await settled(done.position)
    return ids


async def test_nearby_within_radius_and_box(api, database_url, settled):
    await places(api, settled)
    async with reading(database_url) as conn:
        geo = GeoReads(conn)
        near = await geo.nearby(31.77, 35.21, limit=3)
        assert [h.title for h in near] == ["Jerusalem", "Tel Aviv", "Haifa"]
        assert near[0].distance_m is not None
        assert near[0].distance_m < 1_000
        assert near[1].distance_m == pytest.approx(54_000, rel=0.03)
        assert near[0].distance_m < near[1].distance_m < near[2].distance_m

        radius = await geo.within_radius(31.77, 35.21, 100_000)
        assert [h.title for h in radius] == ["Jerusalem", "Tel Aviv"]
        capped = await geo.nearby(31.77, 35.21, limit=10, radius_m=150_000)
        assert [h.title for h in capped] == ["Jerusalem", "Tel Aviv", "Haifa"]

        box = await geo.within_box(29.0, 34.0, 33.0, 36.0)
        assert {h.title for h in box} == {"Jerusalem", "Tel Aviv", "Haifa", "Eilat"}
        assert all(h.distance_m is None for h in box)
        across = await geo.within_box(-20.0, 170.0, -10.0, -170.0)  # crosses the antimeridian
        assert {h.title for h in across} == {"Suva", "Apia"}
        assert await geo.within_box(-20.0, 170.0, -10.0, 175.0) == []
        world = await geo.within_box(-90.0, -180.0, 90.0, 180.0)
        assert {h.title for h in world} == set(PLACES)

        collection = to_geojson(near[:1])
    assert collection["type"] == "FeatureCollection"
    [feature] = collection["features"]
    assert feature["type"] == "Feature"
    assert feature["geometry"] == {"type": "Point", "coordinates": [35.2137, 31.7683]}
    assert feature["properties"]["kind"] == "entity"
    assert feature["properties"]["title"] == "Jerusalem"
    assert feature["properties"]["id"] == str(near[0].id)
    assert feature["properties"]["distance_m"] == near[0].distance_m


async def test_geo_covers_occurrences_and_stays_in_its_tenant(api, database_url, settled):
    with psycopg.connect(database_url) as conn:
        [table] = conn.execute("SELECT to_regclass('rm_occurrences.occurrences')::text").fetchone()
    assert table == "rm_occurrences.occurrences", "the occurrences projection is missing"
    ids = await places(api, settled)
    kept = await api.command(
        "record-occurrence", kind="leak", occurred_at=NOW, location={"lat": 31.78, "lon": 35.22}
    )
    dropped = await api.command(
        "record-occurrence", kind="fire", occurred_at=NOW, location={"lat": 31.77, "lon": 35.21}
    )
    done = await api.command("retract-occurrence", occurrence_id=dropped.id, reason="drill")
    await settled(done.position)
    async with reading(database_url) as conn:
        geo = GeoReads(conn)
        [leak] = await geo.nearby(31.77, 35.21, kinds=["occurrence"])
        assert (leak.kind, str(leak.id), leak.title) == ("occurrence", kept.id, "leak")
        both = await geo.within_radius(31.77, 35.21, 5_000)
        assert [(h.kind, str(h.id)) for h in both] == [
            ("entity", ids["Jerusalem"]), ("occurrence", kept.id),
        ]  # fmt: skip
    async with reading(database_url, tenant_id_for("globex")) as conn:
        assert await GeoReads(conn).within_box(-90.0, -180.0, 90.0, 180.0) == []

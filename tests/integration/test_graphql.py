"""The GraphQL read API over HTTP: commands in, then `/graphql` as a client sees it.

Read-your-writes goes through `X-Min-Position` / `atLeast` (no `settled`) where that is the
point; elsewhere `settled` waits for the read side, never a sleep.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from domain.ids import tenant_id_for
from infra.api import create_app
from infra.graphql import graphql_services
from infra.settings import GraphQLSettings
from projections.notify import cache_key
from projections.paging import encode_cursor
from tests.conftest import graphql_settings

ENTITY_FIELDS = "id title data entityTypeId position archived"


@dataclass
class GraphQL:
    http: httpx.AsyncClient
    token: str
    services: Any = None

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        min_position: int | str | None = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token}"} if token != "" else {}
        if min_position is not None:
            headers["X-Min-Position"] = str(min_position)
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )

    async def query(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> Any:
        """The whole response body (data, errors, extensions)."""
        response = await self.post(query, variables, **kw)
        assert response.status_code == 200, response.text
        body = response.json()
        if kw.get("min_position") is not None:  # a read that gave up waiting proves nothing
            assert not body.get("extensions", {}).get("freshness", {}).get("timedOut"), body
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> Any:
        body = await self.query(query, variables, **kw)
        assert "errors" not in body, body["errors"]
        return body["data"]


@contextlib.asynccontextmanager
async def serving(
    runtime: Any, token: str, settings: GraphQLSettings | None = None
) -> AsyncIterator[GraphQL]:
    """An app of our own (settings are read when it is built), closed afterwards."""
    app = create_app(runtime, settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bsdflow.test") as http:
        client = GraphQL(http, token)
        client.services = graphql_services(app)
        yield client
    await graphql_services(app).close()


@pytest.fixture
async def graphql(runtime, api) -> AsyncIterator[GraphQL]:
    async with serving(runtime, api.token) as client:
        yield client


async def site_type(api: Any) -> str:
    reply = await api.command(
        "define-entity-type",
        name="Site",
        fields=[
            {"name": "title", "type": "text", "required": True, "searchable": "A"},
            {"name": "city", "type": "text", "searchable": "B"},
            {"name": "population", "type": "integer"},
        ],
        search_importance="population",
    )
    return reply.id


async def site(api: Any, type_id: str, title: str, city: str = "Lisbon", **more: Any) -> Any:
    return await api.command(
        "create-entity", entity_type_id=type_id, data={"title": title, "city": city}, **more
    )


async def test_a_created_entity_is_readable_at_its_position(api, graphql, read_side):
    type_id = await site_type(api)
    created = await site(api, type_id, "Jerusalem depot", location={"lat": 31.77, "lon": 35.21})
    body = await graphql.query(
        f"query($id: UUID!) {{ entity(id: $id) {{ {ENTITY_FIELDS} lat entityType {{ name }} }} }}",
        {"id": created.id},
        min_position=created.position,
    )
    entity = body["data"]["entity"]
    assert entity is not None, body
    assert entity["title"] == "Jerusalem depot"
    assert entity["entityType"] == {"name": "Site"}
    assert entity["lat"] == 31.77
    assert entity["position"] == created.position
    freshness = body["extensions"]["freshness"]
    assert freshness["timedOut"] is False
    assert freshness["position"] == created.position


async def test_at_least_waits_and_says_when_it_timed_out(api, graphql, read_side):
    type_id = await site_type(api)
    created = await site(api, type_id, "Porto yard", city="Porto")
    query = """query($p: Int!, $id: UUID!) {
        atLeast(position: $p) { entity(id: $id) { title } counts { entities } } }"""
    body = await graphql.query(query, {"p": created.position, "id": created.id})
    assert body["data"]["atLeast"] == {"entity": {"title": "Porto yard"}, "counts": {"entities": 1}}
    assert body["extensions"]["freshness"]["timedOut"] is False

    far = created.position + 1_000
    body = await graphql.query(
        "query($p: Int!) { atLeast(position: $p, timeoutMs: 200) { counts { entities } } }",
        {"p": far},
    )
    assert body["extensions"]["freshness"] == {
        "position": far,
        "timedOut": True,
        "reached": body["extensions"]["freshness"]["reached"],
    }
    assert body["extensions"]["freshness"]["reached"] < far
    assert body["data"]["atLeast"]["counts"]["entities"] == 1  # answered anyway, as fresh as it is


async def test_pages_follow_cursors_and_refuse_oversized_pages(api, graphql, settled):
    type_id = await site_type(api)
    replies = [await site(api, type_id, f"Site {n}") for n in range(5)]
    await settled(replies[-1].position)
    query = """query($first: Int!, $after: String) {
        entities(first: $first, after: $after) {
            edges { cursor node { title } } pageInfo { hasNextPage endCursor } } }"""
    seen: list[str] = []
    after = None
    while True:
        page = (await graphql.data(query, {"first": 2, "after": after}))["entities"]
        seen += [edge["node"]["title"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]
    assert seen == [f"Site {n}" for n in reversed(range(5))]  # newest first, each once

    first_two = (await graphql.data(query, {"first": 2}))["entities"]["edges"]
    resumed = await graphql.data(query, {"first": 1, "after": first_two[0]["cursor"]})
    assert resumed["entities"]["edges"][0]["node"]["title"] == "Site 3"

    body = await graphql.query(query, {"first": 201})
    assert body["data"] is None
    assert body["errors"][0]["path"] == ["entities"]
    assert "between 1 and 200" in body["errors"][0]["message"]
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_entity_filters_by_type_values_time_and_group(api, graphql, settled):
    sites = await site_type(api)
    other = await api.command(
        "define-entity-type", name="Vehicle", fields=[{"name": "title", "type": "text"}]
    )
    lisbon = await site(api, sites, "Lisbon depot", city="Lisbon")
    await site(api, sites, "Porto depot", city="Porto")
    van = await api.command("create-entity", entity_type_id=other.id, data={"title": "Van 7"})
    group = await api.command("create-group", name="North")
    joined = await api.command("add-group-members", group_id=group.id, entity_ids=[lisbon.id])
    await settled(max(joined.position, van.position))
    query = """query($f: EntityFilter) { entities(filter: $f) { edges { node { title } } } }"""

    async def titles(where: dict[str, Any]) -> list[str]:
        found = (await graphql.data(query, {"f": where}))["entities"]["edges"]
        return sorted(edge["node"]["title"] for edge in found)

    assert await titles({"entityTypeId": sites}) == ["Lisbon depot", "Porto depot"]
    assert await titles({"data": {"city": "Porto"}}) == ["Porto depot"]
    assert await titles({"groupId": group.id}) == ["Lisbon depot"]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert await titles({"createdAfter": future}) == []
    assert await titles({"createdBefore": future}) == ["Lisbon depot", "Porto depot", "Van 7"]
    body = await graphql.query(query, {"f": {"data": [1, 2]}})
    assert body["errors"][0]["path"] == ["entities"]
    assert "JSON object" in body["errors"][0]["message"]

    groups = await graphql.data(
        '{ groups(namePrefix: "no") { edges { node { name entities { title groups { name } } } } } }'
    )
    assert groups["groups"]["edges"] == [
        {
            "node": {
                "name": "North",
                "entities": [{"title": "Lisbon depot", "groups": [{"name": "North"}]}],
            }
        }
    ]


async def test_processes_with_stages_participants_and_filters(api, graphql, settled):
    type_id = await site_type(api)
    depot = await site(api, type_id, "Haifa depot", city="Haifa")
    ana = await api.command("register-participant", name="Ana", email="ana@example.org")
    opened = await api.command(
        "open-process", kind="inspection", title="Pump check", stages=["new", "review", "done"]
    )
    other = await api.command("open-process", kind="audit", title="Books", stages=["new", "done"])
    await api.command("enter-stage", process_id=opened.id, stage="review")
    await api.command("assign-participant", process_id=opened.id, participant_id=ana.id,
                      role="inspector")  # fmt: skip
    linked = await api.command("link-process-entity", process_id=opened.id, entity_id=depot.id)
    await settled(max(linked.position, other.position))

    found = await graphql.data(
        """query($id: UUID!) { process(id: $id) { title stage status
            stageHistory { stage previous } participants { role participant { name } }
            entities { title entityType { name } } } }""",
        {"id": opened.id},
    )
    assert found["process"] == {
        "title": "Pump check",
        "stage": "review",
        "status": found["process"]["status"],
        "stageHistory": [
            {"stage": "new", "previous": None},
            {"stage": "review", "previous": "new"},
        ],
        "participants": [{"role": "inspector", "participant": {"name": "Ana"}}],
        "entities": [{"title": "Haifa depot", "entityType": {"name": "Site"}}],
    }
    query = "query($f: ProcessFilter) { processes(filter: $f) { edges { node { title } } } }"

    async def titles(where: dict[str, Any]) -> list[str]:
        edges = (await graphql.data(query, {"f": where}))["processes"]["edges"]
        return sorted(edge["node"]["title"] for edge in edges)

    assert await titles({}) == ["Books", "Pump check"]
    assert await titles({"kind": "audit"}) == ["Books"]
    assert await titles({"stage": "review"}) == ["Pump check"]
    assert await titles({"participantId": ana.id}) == ["Pump check"]
    assert await titles({"entityId": depot.id}) == ["Pump check"]
    assert await titles({"openedAfter": datetime.now(UTC).isoformat()}) == []
    participants = await graphql.data(
        '{ participants(kind: "person") { edges { node { name } } } }'
    )
    assert participants["participants"]["edges"] == [{"node": {"name": "Ana"}}]


async def test_occurrences_and_geo(api, graphql, settled):
    type_id = await site_type(api)
    jerusalem = await site(api, type_id, "Jerusalem depot", location={"lat": 31.778, "lon": 35.235})
    await site(api, type_id, "Tel Aviv yard", location={"lat": 32.08, "lon": 34.78})
    await site(api, type_id, "Lisbon depot", location={"lat": 38.72, "lon": -9.14})
    when = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    leak = await api.command(
        "record-occurrence", kind="leak", occurred_at=when.isoformat(), data={"litres": 40},
        location={"lat": 31.77, "lon": 35.22}, entity_ids=[jerusalem.id],
    )  # fmt: skip
    visit = await api.command(
        "record-occurrence", kind="visit", occurred_at=(when + timedelta(days=1)).isoformat()
    )
    await settled(max(leak.position, visit.position))

    query = """query($f: OccurrenceFilter) { occurrences(filter: $f) {
        edges { node { kind data entities { title } } } } }"""
    leaks = await graphql.data(query, {"f": {"kind": "leak"}})
    assert leaks["occurrences"]["edges"] == [
        {
            "node": {
                "kind": "leak",
                "data": {"litres": 40},
                "entities": [{"title": "Jerusalem depot"}],
            }
        }
    ]
    later = await graphql.data(
        query, {"f": {"occurredAfter": (when + timedelta(hours=1)).isoformat()}}
    )
    assert [e["node"]["kind"] for e in later["occurrences"]["edges"]] == ["visit"]
    on_site = await graphql.data(query, {"f": {"entityId": jerusalem.id}})
    assert [e["node"]["kind"] for e in on_site["occurrences"]["edges"]] == ["leak"]

    near = await graphql.data(
        """{ nearby(lat: 31.78, lon: 35.23, first: 3) {
            hits { kind title distanceM node { ... on Entity { title } ... on Occurrence { kind } } }
        } }"""
    )
    hits = near["nearby"]["hits"]
    assert [(h["kind"], h["title"]) for h in hits] == [
        ("ENTITY", "Jerusalem depot"), ("OCCURRENCE", "leak"), ("ENTITY", "Tel Aviv yard")
    ]  # fmt: skip
    assert hits[0]["node"] == {"title": "Jerusalem depot"}
    assert hits[1]["node"] == {"kind": "leak"}
    assert hits[0]["distanceM"] < hits[1]["distanceM"] < hits[2]["distanceM"]

    within = await graphql.data(
        "{ within(lat: 31.78, lon: 35.23, radiusM: 100000, kinds: [ENTITY]) { hits { title } geojson } }"
    )
    assert [h["title"] for h in within["within"]["hits"]] == ["Jerusalem depot", "Tel Aviv yard"]
    features = within["within"]["geojson"]["features"]
    assert features[0]["geometry"] == {"type": "Point", "coordinates": [35.235, 31.778]}
    box = await graphql.data(
        "{ within(south: 38, west: -10, north: 39, east: -9) { hits { title } } }"
    )
    assert box["within"]["hits"] == [{"title": "Lisbon depot"}]
    wrong = await graphql.query("{ within(lat: 1, south: 2) { hits { title } } }")
    assert wrong["errors"][0]["path"] == ["within"]
    assert wrong["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_search_forgives_typos_and_resolves_nodes(api, graphql, settled):
    type_id = await site_type(api)
    await site(api, type_id, "Jerusalem depot", city="Jerusalem")
    await site(api, type_id, "Lisbon depot", city="Lisbon")
    process = await api.command(
        "open-process", kind="inspection", title="Workflow review", stages=["new"]
    )
    await settled(process.position)
    found = await graphql.data(
        """query($q: String!, $kinds: [SearchKind!]) { search(query: $q, kinds: $kinds) {
            edges { cursor node { kind title snippet rank
                node { ... on Entity { title data } ... on Process { kind } } } }
            pageInfo { hasNextPage } } }""",
        {"q": "Jerusalm", "kinds": None},
    )
    edges = found["search"]["edges"]
    assert edges[0]["node"]["title"] == "Jerusalem depot"
    assert edges[0]["node"]["kind"] == "ENTITY"
    assert "<b>" in edges[0]["node"]["snippet"]
    assert edges[0]["node"]["node"]["data"]["city"] == "Jerusalem"
    typo = await graphql.data(
        '{ search(query: "wrkflow", kinds: [PROCESS]) { edges { node { title node { ... on Process { kind } } } } } }'
    )
    assert typo["search"]["edges"] == [
        {"node": {"title": "Workflow review", "node": {"kind": "inspection"}}}
    ]


async def test_nested_lists_cost_a_constant_number_of_statements(api, runtime, settled):
    async with serving(runtime, api.token, graphql_settings(report_statements=True)) as graphql:
        await nested_lists(api, graphql, settled)


async def nested_lists(api: Any, graphql: GraphQL, settled: Any) -> None:
    type_id = await site_type(api)
    group = await api.command("create-group", name="Watched")

    async def add_sites(start: int, count: int) -> int:
        made = [await site(api, type_id, f"Site {n}") for n in range(start, start + count)]
        await api.attach("entity", made[0].id, b"some notes", f"Report {start}")
        joined = await api.command("add-group-members", group_id=group.id, entity_ids=[made[0].id])
        return joined.position

    query = """{ entities(first: 50) { edges { node {
        title entityType { name } documents { title } groups { name } } } } }"""
    await settled(await add_sites(0, 2))
    await graphql.query(query)  # the first read fills the entity-type cache
    few = await graphql.query(query)
    await settled(await add_sites(2, 18))
    many = await graphql.query(query)

    assert len(few["data"]["entities"]["edges"]) == 2
    assert len(many["data"]["entities"]["edges"]) == 20
    with_report = [e["node"] for e in many["data"]["entities"]["edges"] if e["node"]["documents"]]
    assert {n["documents"][0]["title"] for n in with_report} == {"Report 0", "Report 2"}
    assert {g["name"] for n in with_report for g in n["groups"]} == {"Watched"}
    statements = few["extensions"]["sql"]["statements"]
    assert many["extensions"]["sql"]["statements"] == statements
    assert statements <= 6  # tenant, page, documents, memberships, groups (types: cached)


async def test_errors_carry_paths_and_internal_failures_are_masked(api, graphql, read_side):
    query = "query($after: String) { entities(after: $after) { edges { cursor } } }"
    bad = await graphql.query(query, {"after": "@@@"})
    assert bad["errors"][0]["path"] == ["entities"]
    assert "cursor" in bad["errors"][0]["message"]

    broken = await graphql.query(query, {"after": encode_cursor([1])})  # well-formed, wrong shape
    assert broken["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT"}

    # A fault of the server (here a read model gone missing) says nothing of its internals.
    with psycopg.connect(api.runtime.urls.database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE rm_entities.entities RENAME TO entities_gone")
    failed = await graphql.query(query)
    assert failed["errors"][0] == {
        "message": "Unexpected error.",
        "locations": failed["errors"][0]["locations"],
        "path": ["entities"],
        "extensions": {"code": "INTERNAL"},
    }


async def test_limits_refuse_deep_aliased_and_long_queries(api, graphql, read_side):
    nested = "title"
    for _ in range(6):
        nested = f"groups {{ entities {{ {nested} }} }}"
    deep = await graphql.query(f"{{ entities {{ edges {{ node {{ {nested} }} }} }} }}")
    assert deep["data"] is None
    assert "exceeds maximum operation depth" in deep["errors"][0]["message"]

    aliases = " ".join(f"a{n}: id" for n in range(16))
    aliased = await graphql.query(
        f"{{ entities {{ edges {{ node {{ ...F }} }} }} }} fragment F on Entity {{ {aliases} }}"
    )
    assert "aliases found" in aliased["errors"][0]["message"]

    long = await graphql.query("{ counts { " + "entities " * 2_100 + "} }")
    assert "tokens" in long["errors"][0]["message"]

    fine = await graphql.query("{ counts { entities } }")
    assert fine["data"] == {"counts": {"entities": 0}}


async def test_reads_need_a_valid_token_with_a_reading_role(api, graphql, read_side):
    query = "{ counts { entities } }"
    missing = await graphql.post(query, token="")
    assert missing.status_code == 401
    assert missing.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    forged = await graphql.post(query, token="not-a-jwt")
    assert forged.status_code == 401
    platform = await graphql.post(query, token=api.mint("acme", "platform"))
    assert platform.status_code == 403
    assert platform.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    viewer = await graphql.post(query, token=api.mint("acme", "viewer"))
    assert viewer.status_code == 200
    assert viewer.json()["data"] == {"counts": {"entities": 0}}


async def test_tenant_b_sees_nothing_of_tenant_a(api, graphql, settled):
    platform = api.mint("platform", "platform")
    await api.command("create-tenant", token=platform, slug="beta", name="Beta")
    type_id = await site_type(api)
    secret = await site(api, type_id, "Jerusalem depot", location={"lat": 31.77, "lon": 35.21})
    opened = await api.command("open-process", kind="audit", title="Secret audit", stages=["a"])
    await settled(opened.position)
    beta = api.mint("beta", "admin")
    query = """query($id: UUID!) {
        entity(id: $id) { title } process(id: $pid) { title }
        entities { edges { node { id } } } entityTypes { name } processes { edges { node { id } } }
        search(query: "Jerusalem") { edges { node { id } } }
        nearby(lat: 31.77, lon: 35.21) { hits { id } }
        counts { entities processes } }""".replace("$id: UUID!)", "$id: UUID!, $pid: UUID!)")
    variables = {"id": secret.id, "pid": opened.id}
    seen_by_b = await graphql.data(query, variables, token=beta)
    assert seen_by_b == {
        "entity": None, "process": None, "entities": {"edges": []}, "entityTypes": [],
        "processes": {"edges": []}, "search": {"edges": []}, "nearby": {"hits": []},
        "counts": {"entities": 0, "processes": 0},
    }  # fmt: skip
    seen_by_a = await graphql.data(query, variables)
    assert seen_by_a["entity"] == {"title": "Jerusalem depot"}
    assert seen_by_a["counts"] == {"entities": 1, "processes": 1}


async def test_cached_reads_are_never_stale_after_a_commit(api, graphql, runtime, settled):
    type_id = await site_type(api)
    created = await site(api, type_id, "Old name")
    query = "query($id: UUID!) { entity(id: $id) { title version } entityTypes { name } }"
    await graphql.data(query, {"id": created.id}, min_position=created.position)
    first = await graphql.data(query, {"id": created.id})
    assert first == {
        "entity": {"title": "Old name", "version": 1},
        "entityTypes": [{"name": "Site"}],
    }
    acme = tenant_id_for("acme")
    assert runtime.redis.get(cache_key("entity", acme, created.id)) is not None
    assert runtime.redis.get(cache_key("entity_types", acme, "all")) is not None
    assert await graphql.data(query, {"id": created.id}) == first
    assert graphql.services.answers.hits == 1  # the same question, answered from memory

    updated = await api.command("update-entity", entity_id=created.id, data={"title": "New name"})
    vehicle = await api.command("define-entity-type", name="Vehicle", fields=[])
    latest = max(updated.position, vehicle.position)
    await settled(latest)
    after = await graphql.data(query, {"id": created.id}, min_position=latest)
    expected = {
        "entity": {"title": "New name", "version": 2},
        "entityTypes": [{"name": "Site"}, {"name": "Vehicle"}],
    }
    assert after == expected
    # Once the commit was announced, the kept answer is gone too.
    assert await graphql.data(query, {"id": created.id}) == expected


async def test_introspection_and_graphiql_follow_the_settings(api, runtime, read_side):
    schema_query = {"query": "{ __schema { queryType { name } } }"}
    headers = {"Authorization": f"Bearer {api.token}"}
    for allowed in (True, False):
        app = create_app(runtime, graphql_settings(introspection=allowed, graphiql=allowed))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            body = (await http.post("/graphql", json=schema_query, headers=headers)).json()
            page = await http.get("/graphql", headers={"Accept": "text/html"})
        await graphql_services(app).close()
        if allowed:
            assert body["data"] == {"__schema": {"queryType": {"name": "Query"}}}
            assert page.status_code == 200
        else:
            assert "introspection" in body["errors"][0]["message"].lower()
            assert page.status_code == 404


SORTED_LIST = """query($order: EntityOrder!, $after: String) {
  entities(order: $order, first: 2, after: $after) {
    edges { node { title importance } }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def all_pages(graphql, order: str) -> list[tuple[str, float | None]]:
    seen, after = [], None
    while True:
        page = (await graphql.data(SORTED_LIST, {"order": order, "after": after}))["entities"]
        seen += [(e["node"]["title"], e["node"]["importance"]) for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]


async def test_entities_sort_by_title_importance_and_age(api, graphql, settled):
    city = await api.command(
        "define-entity-type",
        name="City",
        fields=[{"name": "title", "type": "text"}, {"name": "population", "type": "integer"}],
        search_importance="population",
    )
    last = None
    for title, population in [
        ("Haifa", 285),
        ("aarhus", 280),
        ("Cork", None),
        ("Bergen", 291),
        ("Lyon", 522),
    ]:
        data = {"title": title} | ({"population": population} if population else {})
        last = await api.command("create-entity", entity_type_id=city.id, data=data)
    await settled(last.position)

    titles = [t for t, _ in await all_pages(graphql, "TITLE")]
    assert titles == ["aarhus", "Bergen", "Cork", "Haifa", "Lyon"]
    by_importance = await all_pages(graphql, "IMPORTANCE")
    assert [t for t, _ in by_importance] == ["Lyon", "Bergen", "Haifa", "aarhus", "Cork"]
    assert [t for t, _ in await all_pages(graphql, "NEWEST")] == [
        "Lyon",
        "Bergen",
        "Cork",
        "aarhus",
        "Haifa",
    ]
    assert [t for t, _ in await all_pages(graphql, "OLDEST")] == [
        "Haifa",
        "aarhus",
        "Cork",
        "Bergen",
        "Lyon",
    ]

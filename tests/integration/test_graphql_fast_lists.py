"""Connections of plain fields come back as JSON built by PostgreSQL (read_api.fast_lists).

Every query here runs twice, against an app with the fast path and one without
(`BSDFLOW_GRAPHQL_FAST_LISTS=false`), and both answers must be the same JSON. PostgreSQL's
`json_build_object` writes `"key" : value`; Python's encoder never puts a space before a colon,
so that spacing in the raw body shows which path answered.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import psycopg
import pytest

from infra.api import create_app
from infra.graphql import graphql_services
from infra.settings import GraphQLSettings
from projections.paging import iso_timestamp
from tests.conftest import graphql_settings

PG_JSON = b'" : '
ALL_FIELDS = """id entityTypeId version schemaVersion title importance data lat lon archived
    createdAt updatedAt position"""


class Both:
    """One app with the fast path, one without; `ask` returns both raw bodies."""

    def __init__(self, fast: httpx.AsyncClient, slow: httpx.AsyncClient, token: str) -> None:
        self.fast, self.slow, self.token = fast, slow, token

    async def ask(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> tuple[bytes, bytes]:
        body = {"query": query, "variables": variables or {}}
        headers = {"Authorization": f"Bearer {token or self.token}"}
        fast = await self.fast.post("/graphql", json=body, headers=headers)
        slow = await self.slow.post("/graphql", json=body, headers=headers)
        assert fast.status_code == slow.status_code == 200, (fast.text, slow.text)
        return fast.content, slow.content

    async def same(
        self, query: str, variables: dict[str, Any] | None = None, *, fast_path: bool = True,
        token: str | None = None,
    ) -> Any:  # fmt: skip
        """Both answers, equal as JSON; `fast_path` says whether the fast one took it."""
        fast, slow = await self.ask(query, variables, token)
        assert orjson.loads(fast) == orjson.loads(slow)
        assert PG_JSON not in slow
        assert (PG_JSON in fast) is fast_path, fast[:300]
        answer = orjson.loads(fast)
        assert "errors" not in answer, answer
        return answer["data"]


@contextlib.asynccontextmanager
async def app_client(runtime: Any, settings: GraphQLSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(runtime, settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bsdflow.test") as http:
        yield http
    await graphql_services(app).close()


@pytest.fixture
async def both(runtime, api) -> AsyncIterator[Both]:
    every_answer_executed = graphql_settings(response_cache_entries=0)
    async with app_client(runtime, every_answer_executed) as fast:
        plain = graphql_settings(response_cache_entries=0, fast_lists=False)
        async with app_client(runtime, plain) as slow:
            yield Both(fast, slow, api.token)


async def sites(api: Any, settled: Any, count: int, token: str | None = None) -> list[Any]:
    fields = [{"name": "title", "type": "text"}, {"name": "city", "type": "text"},
              {"name": "population", "type": "integer"}]  # fmt: skip
    kind = await api.command("define-entity-type", token=token, name="Site", fields=fields,
                             search_importance="population")  # fmt: skip
    made = []
    for n in range(count):
        data: dict[str, Any] = {"title": f'Site {n} é"\\☃', "city": ["Lisbon", "Porto"][n % 2]}
        if n % 3:
            data["population"] = n * 1000
        more = {"location": {"lat": 38.7 + n / 1000, "lon": -9.1}} if n % 2 else {}
        made.append(await api.command("create-entity", token=token, entity_type_id=kind.id,
                                      data=data, **more))  # fmt: skip
    await settled(made[-1].position)
    return made


async def test_plain_lists_match_the_normal_executor(api, both, settled):
    await sites(api, settled, 7)
    query = f"""query($first: Int!, $after: String, $order: EntityOrder!) {{
        entities(first: $first, after: $after, order: $order) {{
            edges {{ cursor node {{ {ALL_FIELDS} }} }}
            pageInfo {{ hasNextPage endCursor hasPreviousPage startCursor }} }} }}"""
    for order in ("NEWEST", "OLDEST", "RECENTLY_UPDATED", "TITLE", "IMPORTANCE"):
        after, titles = None, []
        while True:
            variables = {"first": 3, "after": after, "order": order}
            page = (await both.same(query, variables))["entities"]
            titles += [edge["node"]["title"] for edge in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
            assert after == page["edges"][-1]["cursor"]
        assert len(titles) == len(set(titles)) == 7, order


async def test_aliases_fragments_and_typenames(api, both, settled):
    made = await sites(api, settled, 4)
    query = """
        query($first: Int = 3, $f: EntityFilter) {
          __typename
          list: entities(first: $first, filter: $f) {
            __typename
            all: edges { __typename at: cursor item: node { ...Names ... on Entity { id } } }
            more: pageInfo { ...Paging next: hasNextPage }
          }
          again: entities(first: 1) { edges { node { __typename kind: __typename title } } }
        }
        fragment Names on Entity { label: title title ... { data when: createdAt } }
        fragment Paging on PageInfo { __typename endCursor }
    """
    data = await both.same(query, {"f": {"data": {"city": "Porto"}}})
    assert data["list"]["__typename"] == "EntityConnection"
    edges = data["list"]["all"]
    assert [list(edge) for edge in edges] == [["__typename", "at", "item"]] * 2
    assert list(edges[0]["item"]) == ["label", "title", "data", "when", "id"]
    assert {edge["item"]["id"] for edge in edges} == {made[1].id, made[3].id}
    assert list(data["list"]["more"]) == ["__typename", "endCursor", "next"]
    assert data["again"]["edges"][0]["node"]["kind"] == "Entity"

    default_first = await both.same(query, {})
    assert len(default_first["list"]["all"]) == 3


async def test_selections_it_does_not_cover_take_the_normal_path(api, both, settled):
    await sites(api, settled, 3)
    nested = "{ entities { edges { node { title entityType { name } } } } }"
    data = await both.same(nested, fast_path=False)
    assert {e["node"]["entityType"]["name"] for e in data["entities"]["edges"]} == {"Site"}
    skipped = """query($no: Boolean!) {
        entities { edges { node { title id @skip(if: $no) } } } }"""
    data = await both.same(skipped, {"no": True}, fast_path=False)
    assert all(list(e["node"]) == ["title"] for e in data["entities"]["edges"])


async def test_errors_keep_their_paths(api, both, settled):
    await sites(api, settled, 1)
    query = "query($after: String, $n: Int!) { entities(first: $n, after: $after) { edges { node { id } } } }"
    for variables in ({"n": 201}, {"n": 2, "after": "@@@"}):
        fast, slow = await both.ask(query, variables)
        answer = orjson.loads(fast)
        assert answer == orjson.loads(slow)
        assert answer["data"] is None
        assert answer["errors"][0]["path"] == ["entities"]


async def test_a_tenant_never_sees_another_tenants_rows(api, both, settled):
    platform = api.mint("platform", "platform")
    await api.command("create-tenant", token=platform, slug="beta", name="Beta")
    beta = api.mint("beta", "admin")
    mine = await sites(api, settled, 3)
    theirs = await sites(api, settled, 2, token=beta)
    query = (
        "{ entities(first: 200, filter: {includeArchived: true}) { edges { node { id title } } } }"
    )
    seen_by_a = await both.same(query)
    seen_by_b = await both.same(query, token=beta)
    assert {e["node"]["id"] for e in seen_by_a["entities"]["edges"]} == {r.id for r in mine}
    assert {e["node"]["id"] for e in seen_by_b["entities"]["edges"]} == {r.id for r in theirs}
    stranger = api.mint("gamma", "viewer")
    nothing = await both.same(query, token=stranger, fast_path=False)  # no rows, no JSON
    assert nothing == {"entities": {"edges": []}}


async def test_timestamps_render_as_python_does(database_url):
    values = [
        datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2025, 1, 2, 3, 4, 5, 120_000, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2025, 7, 1, 0, 0, 0, 1, tzinfo=UTC),
    ]
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        for zone in ("UTC", "Asia/Kolkata", "America/St_Johns"):
            await conn.execute("SELECT set_config('TimeZone', %s, false)", (zone,))
            for value in values:
                cur = await conn.execute(
                    f"SELECT t, {iso_timestamp('t')} FROM (SELECT %s::timestamptz AS t) v", (value,)
                )
                row = await cur.fetchone()
                assert row is not None
                assert row[1] == row[0].isoformat(), zone

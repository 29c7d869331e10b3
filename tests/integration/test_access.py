"""Roles and members over HTTP and GraphQL: what a role grants is what its members can do and
read, on the next request after a change, and nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from infra.runtime import build_runtime
from tests.conftest import graphql_settings, settings_for
from tests.integration.test_graphql import GraphQL, serving, site, site_type
from tests.runs import until

READS = """query($id: UUID!, $pid: UUID!) {
    entity(id: $id) { title } process(id: $pid) { title }
    search(query: "Lisbon depot") { edges { node { kind } } }
    nearby(lat: 38.7, lon: -9.1) { hits { kind } }
    counts { entities processes }
}"""


@pytest.fixture
async def graphql(runtime: Any, api: Any, read_side: Any) -> AsyncIterator[GraphQL]:
    async with serving(runtime, api.token) as client:
        yield client


async def records(api: Any, settled: Any) -> tuple[str, str]:
    type_id = await site_type(api)
    depot = await site(api, type_id, "Lisbon depot", location={"lat": 38.7, "lon": -9.1})
    opened = await api.command(
        "open-process", kind="audit", title="Lisbon depot audit", stages=["a"]
    )
    await settled(opened.position)
    return depot.id, opened.id


def codes(body: dict[str, Any]) -> dict[str, str]:
    return {e["path"][0]: e["extensions"]["code"] for e in body.get("errors", [])}


async def test_a_member_reads_and_does_only_what_its_role_grants(api, graphql, settled):
    depot, audit = await records(api, settled)
    await api.command(
        "define-role",
        name="site-reader",
        description="Sites only",
        grants=["read:entities", "create-group"],
    )
    bound = await api.command("set-member-roles", actor="ivy", roles=["site-reader"])
    await settled(bound.position)
    ivy = api.mint("acme", actor="ivy")  # no role in the token: the membership gives it

    body = await graphql.query(READS, {"id": depot, "pid": audit}, token=ivy)
    assert body["data"]["entity"] == {"title": "Lisbon depot"}
    assert body["data"]["process"] is None  # what one may not read is not there
    assert [e["node"]["kind"] for e in body["data"]["search"]["edges"]] == ["ENTITY"]
    assert body["data"]["nearby"]["hits"] == [{"kind": "ENTITY"}]
    assert body["data"]["counts"] == {"entities": 1, "processes": None}
    assert "errors" not in body

    for root in ("processes { edges { cursor } }", "auditLog { edges { cursor } }"):
        refused = await graphql.query(f"{{ {root} }}", token=ivy)
        assert codes(refused) == {root.split()[0]: "FORBIDDEN"}, refused
    asked = await graphql.query(
        '{ search(query: "audit", kinds: [PROCESS]) { edges { cursor } } }', token=ivy
    )
    assert codes(asked) == {"search": "FORBIDDEN"}

    assert (await api.post("create-group", {"name": "Ivy's"}, token=ivy)).status == 200
    denied = await api.post("register-participant", {"name": "Eve"}, token=ivy)
    assert denied.status == 403, denied.body
    assert "data:write" in denied.body["detail"]

    explained = await graphql.data(
        "{ access { actor roles { name sources defined grants } commandAreas commands reads } }",
        token=ivy,
    )
    assert explained["access"] == {
        "actor": "ivy",
        "roles": [
            {
                "name": "site-reader",
                "sources": ["membership"],
                "defined": True,
                "grants": ["read:entities", "create-group"],
            }
        ],
        "commandAreas": [],
        "commands": ["create-group"],
        "reads": ["entities"],
    }


async def test_a_change_of_grants_takes_effect_on_the_next_request(api, graphql, settled):
    depot, _ = await records(api, settled)
    viewer = api.mint("acme", "viewer", actor="val")
    query = "query($id: UUID!) { entity(id: $id) { title } }"
    assert (await graphql.data(query, {"id": depot}, token=viewer))["entity"] is not None

    await api.command("change-role", name="viewer", grants=["read:processes"])
    assert (await graphql.data(query, {"id": depot}, token=viewer))["entity"] is None
    await api.command("remove-role", name="viewer")
    refused = await graphql.post(query, {"id": depot}, token=viewer)
    assert refused.status_code == 403, refused.text

    await api.command("define-role", name="viewer", grants=["read:*"])
    assert (await graphql.data(query, {"id": depot}, token=viewer))["entity"] is not None


async def test_roles_and_members_are_listed_and_audited(api, graphql, settled):
    await api.command("define-role", name="auditor", grants=["read:audit"])
    await api.command("set-member-roles", actor="ada", roles=["auditor", "viewer"])
    last = await api.command("set-member-roles", actor="bo", roles=["editor"])
    await settled(last.position)

    listed = await graphql.data(
        "{ roles { name builtIn grants version } members { edges { node { actor roles } } } "
        'auditors: members(role: "auditor") { edges { node { actor } } } '
        'ada: access(actor: "ada") { reads roles { name sources } } }'
    )
    assert [(r["name"], r["builtIn"], r["version"]) for r in listed["roles"]] == [
        ("admin", True, 0),
        ("auditor", False, 1),
        ("automation", True, 0),
        ("editor", True, 0),
        ("viewer", True, 0),
    ]
    assert [e["node"] for e in listed["members"]["edges"]] == [
        {"actor": "ada", "roles": ["auditor", "viewer"]},
        {"actor": "bo", "roles": ["editor"]},
    ]
    assert listed["auditors"]["edges"] == [{"node": {"actor": "ada"}}]
    assert "audit" in listed["ada"]["reads"]
    assert {r["sources"][0] for r in listed["ada"]["roles"]} == {"membership"}

    trail = await graphql.data(
        '{ auditLog(filter: {command: "set-member-roles"}) { edges { node { event fields } } } }'
    )
    assert [e["node"] for e in trail["auditLog"]["edges"]] == [
        {"event": "Bound", "fields": ["actor", "roles"]},
        {"event": "Bound", "fields": ["actor", "roles"]},
    ]

    viewer = api.mint("acme", "viewer", actor="val")
    hidden = await graphql.query("{ roles { name } }", token=viewer)
    assert codes(hidden) == {"roles": "FORBIDDEN"}


async def test_roles_are_per_tenant(api, graphql, settled):
    platform = api.mint("platform", "platform")
    await api.command("create-tenant", token=platform, slug="beta", name="Beta")
    beta_admin = api.mint("beta", "admin")
    await api.command("define-role", name="clerk", grants=["data:write"], token=beta_admin)
    await api.command("change-role", name="editor", grants=["read:*"], token=beta_admin)

    acme_editor = api.mint("acme", "editor")
    assert (await api.post("create-group", {"name": "x"}, token=acme_editor)).status == 200
    acme_clerk = api.mint("acme", "clerk")
    assert (await api.post("create-group", {"name": "y"}, token=acme_clerk)).status == 403


REGIONAL = {
    "read": "entities",
    "types": ["Site"],
    "where": {"==": [{"var": "data.region"}, {"var": "me.claims.region"}]},
    "hide": ["salary"],
}
ENTITIES = "{ entities { edges { node { title data } } } entityTypes { name } counts { entities } }"


async def regional_sites(api: Any, settled: Any) -> dict[str, str]:
    fields = [
        {"name": "title", "type": "text", "required": True, "searchable": "A"},
        {"name": "region", "type": "text"},
        {"name": "salary", "type": "integer"},
    ]
    site = await api.command("define-entity-type", name="Site", fields=fields)
    depot = await api.command("define-entity-type", name="Depot", fields=fields)
    ids = {}
    for type_id, title, region in (
        (site.id, "North site", "north"),
        (site.id, "South site", "south"),
        (depot.id, "North depot", "north"),
    ):
        made = await api.command(
            "create-entity",
            entity_type_id=type_id,
            data={"title": title, "region": region, "salary": 10},
            location={"lat": 38.7, "lon": -9.1},
        )
        ids[title] = made.id
    await api.command("define-role", name="regional", grants=[REGIONAL])
    await settled(made.position)
    return ids


@pytest.mark.parametrize("fast_lists", [True, False], ids=["postgres-rendered", "executed"])
async def test_a_row_rule_and_hidden_fields_shape_every_entity_read(
    api, runtime, read_side, settled, fast_lists
):
    ids = await regional_sites(api, settled)
    north = api.runtime.tokens.mint("acme", ["regional"], actor="ivy", claims={"region": "north"})
    south = api.runtime.tokens.mint("acme", ["regional"], actor="bo", claims={"region": "south"})
    nowhere = api.mint("acme", "regional", actor="cy")  # no region claim: sees no site
    async with serving(runtime, api.token, graphql_settings(fast_lists=fast_lists)) as graphql:
        seen = await graphql.data(ENTITIES, token=north)
        assert seen["entities"]["edges"] == [
            {"node": {"title": "North site", "data": {"title": "North site", "region": "north"}}}
        ]
        assert seen["entityTypes"] == [{"name": "Site"}]
        assert seen["counts"] == {"entities": 1}
        # the same query from a reader of another region: its own answer, never a cached one
        other = await graphql.data(ENTITIES, token=south)
        assert [e["node"]["title"] for e in other["entities"]["edges"]] == ["South site"]
        assert (await graphql.data(ENTITIES, token=nowhere))["entities"]["edges"] == []

        by_id = "query($id: UUID!) { entity(id: $id) { title data } }"
        for title, shown in (("North site", True), ("South site", False), ("North depot", False)):
            found = await graphql.data(by_id, {"id": ids[title]}, token=north)
            assert (found["entity"] is not None) == shown, title
        assert (
            "salary"
            not in (await graphql.data(by_id, {"id": ids["North site"]}, token=north))["entity"][
                "data"
            ]
        )
        # search, geo, counts and past states apply the rule too
        hits = await graphql.data(
            '{ search(query: "north") { edges { node { title } } } }',
            token=north,
        )
        assert hits["search"]["edges"] == [{"node": {"title": "North site"}}]
        near = "{ nearby(lat: 38.7, lon: -9.1, kinds: [ENTITY]) { hits { title } } }"
        assert (await graphql.data(near, token=north))["nearby"]["hits"] == [
            {"title": "North site"}
        ]
        assert (await graphql.data(near, token=nowhere))["nearby"]["hits"] == []
        past = "query($id: UUID!) { recordAt(id: $id, position: 1000000) { state } }"
        [north_past, south_past] = [
            (await graphql.data(past, {"id": ids[title]}, token=north))["recordAt"]
            for title in ("North site", "South site")
        ]
        assert north_past["state"]["data"] == {"title": "North site", "region": "north"}
        assert south_past is None
        typed = "query($id: UUID!) { entity(id: $id, atPosition: 1000000) { data } }"
        assert [
            (await graphql.data(typed, {"id": ids[title]}, token=north))["entity"]
            for title in ("North site", "South site")
        ] == [{"data": {"title": "North site", "region": "north"}}, None]
        # an admin still sees everything, salaries included
        everything = await graphql.data(ENTITIES)
        assert len(everything["entities"]["edges"]) == 3
        assert everything["counts"] == {"entities": 3}
        assert all("salary" in e["node"]["data"] for e in everything["entities"]["edges"])


@pytest.mark.parametrize("fast_lists", [True, False], ids=["postgres-rendered", "executed"])
async def test_a_field_one_grant_hides_stays_hidden_where_only_that_grant_admits(
    api, runtime, read_side, settled, fast_lists
):
    ids = await regional_sites(api, settled)  # Sites and Depots, each with a salary
    grants = [
        {"read": "entities", "types": ["Site"], "hide": ["salary"]},
        {"read": "entities", "types": ["Depot"]},
        {"read": "entities", "where": NORTH_ONLY, "hide": ["region", "salary"]},
    ]
    await api.command("define-role", name="mixed", grants=grants)
    reader = api.runtime.tokens.mint("acme", ["mixed"], actor="mo", claims={"region": "north"})
    by_id = "query($id: UUID!) { entity(id: $id) { data } }"
    async with serving(runtime, api.token, graphql_settings(fast_lists=fast_lists)) as graphql:
        listed = await graphql.data(
            "{ entities { edges { node { title data } } } }", min_position=0, token=reader
        )
        shown = {e["node"]["title"]: e["node"]["data"] for e in listed["entities"]["edges"]}
        assert shown == {
            # only grants hiding the salary admit Sites; the Depot grant shows it of Depots
            "North site": {"title": "North site", "region": "north"},
            "South site": {"title": "South site", "region": "south"},
            "North depot": {"title": "North depot", "region": "north", "salary": 10},
        }
        for title, data in shown.items():
            assert (await graphql.data(by_id, {"id": ids[title]}, token=reader))["entity"] == {
                "data": data
            }
        past = "query($id: UUID!) { recordAt(id: $id, position: 1000000) { state } }"
        state = (await graphql.data(past, {"id": ids["North depot"]}, token=reader))["recordAt"]
        assert "salary" not in state["state"]["data"]  # a past state leaves out any hidden key


NORTH_ONLY = {"==": [{"var": "data.region"}, {"var": "me.claims.region"}]}


async def test_search_and_geo_show_nothing_of_hidden_rows_or_fields(
    api, runtime, read_side, settled
):
    text = {"name": "title", "type": "text", "required": True, "searchable": "A"}
    region = {"name": "region", "type": "text"}
    yard = await api.command(
        "define-entity-type",
        name="Yard",
        fields=[text, region, {"name": "spot", "type": "geo_point"}],
        location_field="spot",
    )
    memo = await api.command(
        "define-entity-type",
        name="Memo",
        fields=[text, region, {"name": "notes", "type": "text", "searchable": "C"}],
    )
    for type_id, data in (
        (yard.id, {"title": "Harbour crane", "region": "south"}),
        (yard.id, {"title": "Harbour office", "region": "north", "spot": {"lat": 1, "lon": 2}}),
        (memo.id, {"title": "Pier memo", "region": "north", "notes": "zebra"}),
    ):
        made = await api.command("create-entity", entity_type_id=type_id, data=data)
    masked = {"read": "entities", "where": NORTH_ONLY, "hide": ["notes", "spot"]}
    await api.command("define-role", name="north-desk", grants=[masked])
    await api.command(
        "define-role", name="north-map", grants=[{"read": "entities", "where": NORTH_ONLY}]
    )
    await settled(made.position)
    desk, map_reader = (
        api.runtime.tokens.mint("acme", [role], actor=role, claims={"region": "north"})
        for role in ("north-desk", "north-map")
    )

    async def titles(graphql: GraphQL, query: str, token: str | None = None) -> list[str]:
        found = await graphql.data(
            "query($q: String!) { search(query: $q) { edges { node { title } } } }",
            {"q": query},
            token=token,
        )
        return [edge["node"]["title"] for edge in found["search"]["edges"]]

    near = "{ nearby(lat: 1, lon: 2, kinds: [ENTITY]) { hits { title lat } } }"
    async with serving(runtime, api.token) as graphql:
        # every word matches only a row it may not see: it gets the rows matching the most
        # words among those it sees, as if the hidden row did not exist
        assert await titles(graphql, "harbour crane ") == ["Harbour crane"]
        assert await titles(graphql, "harbour crane ", desk) == ["Harbour office"]
        # a hidden field's words find nothing (a type indexing one is not searched for it)
        assert await titles(graphql, "zebra ") == ["Pier memo"]
        assert await titles(graphql, "zebra ", desk) == []
        assert await titles(graphql, "zebra ", map_reader) == ["Pier memo"]
        # a location held in a hidden field is not shown on the map
        assert (await graphql.data(near, token=map_reader))["nearby"]["hits"] == [
            {"title": "Harbour office", "lat": 1.0}
        ]
        assert (await graphql.data(near, token=desk))["nearby"]["hits"] == []


async def test_a_bad_read_grant_is_refused_with_its_path(api):
    bad = {"read": "entities", "where": {"==": [{"var": "data.region"}, {"var": "me.region"}]}}
    refused = await api.post("define-role", {"name": "r", "grants": ["read:groups", bad]})
    assert refused.status == 422, refused.body
    [error] = refused.body["errors"]
    assert error["path"] == ["grants", 1, "where", "==", 1, "var"]
    assert "me.claims" in error["message"]


async def test_a_document_downloads_for_whoever_reads_it_and_its_record(api, settled):
    ids = await regional_sites(api, settled)
    content = b"north site survey\n" * 100
    attached = await api.upload(
        "entity", ids["South site"], content, filename="survey.txt", content_type="text/plain"
    )
    assert attached.status_code == 200, attached.text
    document = attached.json()
    await settled(document["position"])
    url = f"/v1/documents/{document['id']}"

    async def get(token: str | None, **headers: str) -> Any:
        sent = {"Authorization": f"Bearer {token}"} if token else {}
        return await api.http.get(url, headers=sent | headers)

    whole = await get(api.token)
    assert whole.status_code == 200, whole.text
    assert whole.content == content
    assert whole.headers["content-type"].startswith("text/plain")
    assert whole.headers["content-length"] == str(len(content))
    assert whole.headers["x-content-type-options"] == "nosniff"
    assert 'filename="survey.txt"' in whole.headers["content-disposition"]
    part = await get(api.token, Range="bytes=6-9")
    assert (part.status_code, part.content) == (206, b"site")
    assert part.headers["content-range"] == f"bytes 6-9/{len(content)}"
    assert (await get(api.mint("acme", "viewer"))).status_code == 200

    # Not readable is not there: no documents area, a hidden record, another tenant.
    await api.command("define-role", name="sites-only", grants=["read:entities"])
    south = api.runtime.tokens.mint("acme", ["regional"], actor="bo", claims={"region": "south"})
    await api.command("define-role", name="papers", grants=["read:documents", REGIONAL])
    north_papers = api.runtime.tokens.mint("acme", ["papers"], claims={"region": "north"})
    south_papers = api.runtime.tokens.mint("acme", ["papers"], claims={"region": "south"})
    platform = api.mint("platform", "platform")
    await api.command("create-tenant", token=platform, slug="globex", name="Globex")
    for token in (api.mint("acme", "sites-only"), south, north_papers, api.mint("globex", "admin")):
        refused = await get(token)
        assert refused.status_code == 404, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
    assert (await get(south_papers)).content == content
    assert (await get(None)).status_code == 401
    assert (
        await api.http.get(
            "/v1/documents/not-an-id", headers={"Authorization": f"Bearer {api.token}"}
        )
    ).status_code == 422


async def test_another_process_forgets_at_once_what_one_changed(api, runtime, tmp_path):
    """Two API processes of one installation: a change of roles through one is announced to the
    other (Redis pub/sub), which forgets its cache of them at once, not after its TTL."""
    other = build_runtime(settings_for(runtime.urls, tmp_path / "other"), runtime.urls)
    try:
        other.commands.book.ttl_seconds = 3_600  # only the announcement can tell it
        await api.command("define-role", name="clerk", grants=["read:entities"])
        ivy = other.tokens.principal(f"Bearer {api.mint('acme', 'clerk', actor='ivy')}")
        assert not other.commands.book.grants(ivy).allows("data:write")  # cached, and hearing
        await api.command("change-role", name="clerk", grants=["read:entities", "data:write"])
        heard = lambda: other.commands.book.grants(ivy).allows("data:write")  # noqa: E731
        await until(heard, timeout=30, what="the other process to hear of the change")
    finally:
        other.close()


async def test_search_finds_no_document_of_a_record_the_reader_may_not_see(
    api, runtime, read_side, settled
):
    ids = await regional_sites(api, settled)
    for title in ("South site", "North site"):
        attached = await api.upload(
            "entity", ids[title], f"{title} quartz survey".encode(), filename="survey.txt",
            content_type="text/plain",
        )  # fmt: skip
        assert attached.status_code == 200, attached.text
    await api.command("define-role", name="papers", grants=["read:documents", REGIONAL])
    north = api.runtime.tokens.mint("acme", ["papers"], actor="ivy", claims={"region": "north"})
    query = '{ search(query: "quartz", kinds: [DOCUMENT]) { edges { node { snippet } } } }'
    async with serving(runtime, api.token) as graphql:
        everything = await graphql.data(query, min_position=attached.json()["position"])
        assert len(everything["search"]["edges"]) == 2
        [hit] = (await graphql.data(query, token=north))["search"]["edges"]
        assert "North site" in hit["node"]["snippet"]

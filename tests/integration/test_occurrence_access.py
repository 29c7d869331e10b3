"""Row rules and hidden fields on occurrences: a desk that reads only the incidents of its
reader's region (the token's `region` claim), without their notes, on every read path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.integration.test_graphql import GraphQL, serving

MY_REGION = {"==": [{"var": "data.region"}, {"var": "me.claims.region"}]}
INCIDENTS_OF_MY_REGION = {
    "read": "occurrences",
    "types": ["INCIDENT"],  # kinds match in any case, as occurrence kinds are named
    "where": MY_REGION,
    "hide": ["notes"],
}
OCCURRENCE = "id kind processId data"
LIST = f"{{ occurrences {{ edges {{ node {{ {OCCURRENCE} }} }} }} counts {{ occurrences }} }}"
NEAR = {"lat": 38.7, "lon": -9.1}


@pytest.fixture
async def graphql(runtime: Any, api: Any, read_side: Any) -> AsyncIterator[GraphQL]:
    async with serving(runtime, api.token) as client:
        yield client


async def incidents(api: Any, settled: Any) -> dict[str, str]:
    """Four standing occurrences near Lisbon and one retracted; only "mine" is an incident of
    the north. Every one has "harbour" in its data, the incidents a secret note."""
    audit = await api.command("open-process", kind="audit", title="Dock audit", stages=["new"])
    ids = {"audit": audit.id}
    for name, kind, region in (
        ("mine", "incident", "north"),
        ("south", "incident", "south"),
        ("visit", "visit", "north"),
        ("retracted", "incident", "north"),
    ):
        notes = {"notes": "zebracrossing leak"} if kind == "incident" else {}
        recorded = await api.command(
            "record-occurrence",
            kind=kind,
            occurred_at="2026-11-24T10:00:00+00:00",
            data={"region": region, "place": f"harbour {name}", **notes},
            location=NEAR,
            process_id=audit.id,
        )
        ids[name] = recorded.id
    await api.command("retract-occurrence", occurrence_id=ids["retracted"], reason="a test")
    for name in ("mine", "south"):
        attached = await api.upload("occurrence", ids[name], f"{name} photo notes".encode())
        assert attached.status_code == 200, attached.text
        ids[f"{name}-doc"] = attached.json()["id"]
    for role, grant in (
        ("desk", INCIDENTS_OF_MY_REGION),
        ("desk-open", {k: v for k, v in INCIDENTS_OF_MY_REGION.items() if k != "hide"}),
    ):
        defined = await api.command(
            "define-role", name=role, grants=[grant, "read:documents", "read:processes"]
        )
    await settled(defined.position)
    return ids


def desk(api: Any, region: str | None, role: str = "desk") -> str:
    claims = {"region": region} if region else {}
    return str(api.runtime.tokens.mint("acme", [role], actor=f"{role}-{region}", claims=claims))


async def test_a_reader_sees_only_the_occurrences_its_rule_shows_on_every_path(
    api, graphql, settled
):
    ids = await incidents(api, settled)
    north = desk(api, "north")
    seen = await graphql.data(LIST, token=north)
    mine = {
        "id": ids["mine"],
        "kind": "incident",
        "processId": ids["audit"],
        "data": {"region": "north", "place": "harbour mine"},  # the notes are hidden
    }
    assert seen == {"occurrences": {"edges": [{"node": mine}]}, "counts": {"occurrences": 1}}
    south = await graphql.data(LIST, token=desk(api, "south"))
    assert [e["node"]["id"] for e in south["occurrences"]["edges"]] == [ids["south"]]
    nowhere = await graphql.data(LIST, token=desk(api, None))
    assert nowhere == {"occurrences": {"edges": []}, "counts": {"occurrences": 0}}
    retracted = await graphql.data(
        "{ occurrences(filter: {includeRetracted: true}) { edges { node { id } } } }", token=north
    )
    listed = {e["node"]["id"] for e in retracted["occurrences"]["edges"]}
    assert listed == {ids["mine"], ids["retracted"]}

    by_id = "query($id: UUID!) { occurrence(id: $id) { id data documents { id } } }"
    for name in ("south", "visit"):
        assert (await graphql.data(by_id, {"id": ids[name]}, token=north))["occurrence"] is None
    shown = (await graphql.data(by_id, {"id": ids["mine"]}, token=north))["occurrence"]
    assert shown == {
        "id": ids["mine"],
        "data": mine["data"],
        "documents": [{"id": ids["mine-doc"]}],
    }

    # Geo walks only what the rule shows, and its node is the occurrence as the reader sees it.
    geo = await graphql.data(
        "query($lat: Float!, $lon: Float!) { nearby(lat: $lat, lon: $lon, kinds: [OCCURRENCE]) "
        "{ hits { id node { ... on Occurrence { data } } } } }",
        NEAR,
        token=north,
    )
    assert geo["nearby"]["hits"] == [{"id": ids["mine"], "node": {"data": mine["data"]}}]

    # Past states of what it sees now, without the notes; none of the others.
    past = "query($id: UUID!) { recordAt(id: $id, position: 1000000) { state } }"
    then = await graphql.data(past, {"id": ids["mine"]}, token=north)
    assert then["recordAt"]["state"]["data"] == mine["data"]
    for name in ("south", "visit"):
        assert (await graphql.data(past, {"id": ids[name]}, token=north))["recordAt"] is None

    # Documents follow the occurrence they are attached to: listed, by id and downloaded.
    papers = await graphql.data(
        "query($id: UUID!) { documents { edges { node { id } } } document(id: $id) { id } }",
        {"id": ids["south-doc"]},
        token=north,
    )
    assert papers == {"documents": {"edges": [{"node": {"id": ids["mine-doc"]}}]}, "document": None}
    for name, status in (("south-doc", 404), ("mine-doc", 200)):
        got = await api.http.get(
            f"/v1/documents/{ids[name]}", headers={"Authorization": f"Bearer {north}"}
        )
        assert got.status_code == status, (name, got.text)

    # An admin still sees every occurrence, notes included.
    everything = await graphql.data(LIST)
    assert len(everything["occurrences"]["edges"]) == 3
    assert everything["counts"] == {"occurrences": 3}
    incidents_seen = [e["node"] for e in everything["occurrences"]["edges"]]
    assert all("notes" in o["data"] for o in incidents_seen if o["kind"] == "incident")


SEARCH_RANKED = 'query($q: String!) { search(query: $q, kinds: [OCCURRENCE]) { edges { node { kind id snippet rank } } } }'  # fmt: skip


async def test_search_shows_occurrences_by_the_rule_and_never_by_a_hidden_field(
    api, graphql, settled
):
    ids = await incidents(api, settled)
    # A twin of "mine" (same region, as many words) without the secret note.
    twin = await api.command(
        "record-occurrence",
        kind="incident",
        occurred_at="2026-11-24T10:00:00+00:00",
        data={"region": "north", "place": "harbour twin"},
    )
    await settled(twin.position)

    async def hits(query: str, token: str | None = None) -> list[dict[str, Any]]:
        found = await graphql.data(SEARCH_RANKED, {"q": query}, token=token)
        return [hit["node"] for hit in found["search"]["edges"]]

    async def found(query: str, token: str) -> list[str]:
        return [hit["id"] for hit in await hits(query, token)]

    # Without hidden fields the rule alone decides.
    open_north = desk(api, "north", "desk-open")
    assert set(await found("harbour", open_north)) == {ids["mine"], twin.id}
    assert await found("harbour", desk(api, "south", "desk-open")) == [ids["south"]]
    assert await found("zebracrossing", open_north) == [ids["mine"]]
    # With the notes hidden, an occurrence is matched on its other fields alone: found by
    # their words, never by a word only its notes hold, nor shown with them in its snippet…
    north = desk(api, "north")
    assert await found("zebracrossing", north) == []
    seen = {hit["id"]: hit for hit in await hits("harbour leak", north)}
    assert set(seen) == {ids["mine"], twin.id}
    assert all(
        "leak" not in hit["snippet"] and "zebra" not in hit["snippet"] for hit in seen.values()
    )
    assert "<b>harbour</b>" in seen[ids["mine"]]["snippet"]
    # …and not ranked by it: the two rank alike for this reader. An admin, who reads the
    # notes, finds the incidents whose notes hold the leak (every word matches there), and
    # not the twin.
    assert seen[ids["mine"]]["rank"] == seen[twin.id]["rank"]
    admin = await hits("harbour leak")
    assert {hit["id"] for hit in admin} == {ids["mine"], ids["south"]}
    assert all("<b>leak</b>" in hit["snippet"] for hit in admin)
    assert len(await found("zebracrossing", api.token)) == 2


@pytest.mark.parametrize(
    ("grant", "path", "message"),
    [
        (
            {"read": "occurrences", "where": {"==": [{"var": "title"}, "x"]}},
            ["grants", 0, "where", "==", 0, "var"],
            "a rule on occurrences uses data.<field>, kind, process_id, occurred_at, recorded_at, participants, entities",
        ),
        (
            {"read": "occurrences", "where": {"in": [{"var": "entities"}, ["x"]]}},
            ["grants", 0, "where", "in", 0],
            "is a set",
        ),
        ({"read": "occurrences", "hide": ["Notes"]}, ["grants", 0, "hide", 0], "field name"),
        ({"read": "occurrences", "types": "incident"}, ["grants", 0, "types"], "list of names"),
        (
            {"read": "occurrences", "where": {"like": [{"var": "kind"}, "x"]}},
            ["grants", 0, "where", "like"],
            "unknown operator",
        ),
        ({"read": "groups", "where": MY_REGION}, ["grants", 0, "read"], "occurrences"),
    ],
)
async def test_a_bad_occurrence_grant_is_refused_with_its_path(api, grant, path, message):
    refused = await api.post("define-role", {"name": "r", "grants": [grant]})
    assert refused.status == 422, refused.body
    [error] = refused.body["errors"]
    assert error["path"] == path
    assert message in error["message"]


async def test_a_rule_on_times_shows_what_occurred_since_the_readers_claim(api, graphql, settled):
    """An auditor reads the incidents that occurred since the time its token names, compared
    as instants: the same moment written with another offset is the same time."""
    ids = {}
    for name, at in (
        ("before", "2026-11-24T09:59:59+00:00"),
        ("at", "2026-11-24T11:00:00+01:00"),  # 10:00 UTC: the claim's very instant
        ("after", "2026-11-25T08:00:00-03:00"),
    ):
        recorded = await api.command("record-occurrence", kind="incident", occurred_at=at, data={})
        ids[recorded.id] = name
    since = {">=": [{"var": "occurred_at"}, {"var": "me.claims.since"}]}
    defined = await api.command(
        "define-role", name="auditor", grants=[{"read": "occurrences", "where": since}]
    )
    await settled(defined.position)

    async def shown(claims: dict[str, Any]) -> set[str]:
        token = api.runtime.tokens.mint("acme", ["auditor"], actor="aud", claims=claims)
        found = await graphql.data(LIST, token=str(token))
        assert found["counts"]["occurrences"] == len(found["occurrences"]["edges"])
        return {ids[e["node"]["id"]] for e in found["occurrences"]["edges"]}

    assert await shown({"since": "2026-11-24T10:00:00Z"}) == {"at", "after"}
    assert await shown({"since": "2026-11-25T11:00:00+00:00"}) == {"after"}
    assert await shown({"since": "2026-11-25T11:00:01+00:00"}) == set()
    assert await shown({"since": "last week"}) == set()  # no time: nothing, never a failed read
    assert await shown({}) == set()

    # A rule's own time must be one, with its offset: refused when the role is saved.
    sloppy = {"read": "occurrences", "where": {">": [{"var": "occurred_at"}, "2026-11-24"]}}
    refused = await api.post("define-role", {"name": "sloppy", "grants": [sloppy]})
    assert refused.status == 422, refused.body
    assert "is a time" in str(refused.body)

"""Forgetting a participant through the real stack: commands over HTTP, GraphQL by id, in
lists and in search, the raw event store and read models, and a rebuild from the events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import orjson
import psycopg
import pytest
from typer.testing import CliRunner

from domain.ids import tenant_id_for
from domain.participant import Participant
from eventstore.envelope import EVENTS_TABLE, SNAPSHOTS_TABLE
from eventstore.keys import KEYS_TABLE
from eventstore.postgres import SNAPSHOT_EVERY
from infra.cli import app as cli
from infra.runtime import Runtime
from projections.base import schema_named
from tests.integration.test_cli import servers_env
from tests.integration.test_graphql import GraphQL, serving

PARTICIPANT = """query ($id: UUID!) { participant(id: $id) {
  id kind name email phone externalRef erased groups { name } } }"""
PARTICIPANTS = "{ participants { edges { node { id name email phone erased } } } }"
GROUP = """query ($id: UUID!) { group(id: $id) { participants { id name erased } } }"""
SEARCH = (
    """query ($q: String!) { search(query: $q) { edges { node { kind id title snippet } } } }"""
)
RECORD_AT = (
    """query ($id: UUID!, $at: Int!) { recordAt(id: $id, position: $at) { version state } }"""
)
ANN = {"name": "Ann Lovelace", "email": "ann@lovelace.example", "phone": "+44 20 7946 0000"}
PLAINTEXTS = (b"Lovelace", b"lovelace", b"7946", b"Ann ")


@pytest.fixture
async def graphql(runtime: Runtime, api: Any) -> AsyncIterator[GraphQL]:
    async with serving(runtime, api.token) as client:
        yield client


async def hits(graphql: GraphQL, query: str, at: int) -> list[dict[str, Any]]:
    data = await graphql.data(SEARCH, {"q": query}, min_position=at)
    return [e["node"] for e in data["search"]["edges"]]


def rows(database_url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(query).fetchall()


async def erased_everywhere(graphql: GraphQL, ann: str, bo: str, group: str, at: int) -> None:
    found = (await graphql.data(PARTICIPANT, {"id": ann}, min_position=at))["participant"]
    assert found == {
        "id": ann,
        "kind": "person",
        "name": None,
        "email": None,
        "phone": None,
        "externalRef": "hr-1815",
        "erased": True,
        "groups": [{"name": "Crew"}],
    }
    listed = {
        e["node"]["id"]: e["node"]
        for e in (await graphql.data(PARTICIPANTS, min_position=at))["participants"]["edges"]
    }
    assert listed[ann] == {"id": ann, "name": None, "email": None, "phone": None, "erased": True}
    assert listed[bo]["name"] == "Bo Berg"
    members = (await graphql.data(GROUP, {"id": group}, min_position=at))["group"]["participants"]
    assert sorted(members, key=lambda m: m["name"] or "") == [
        {"id": ann, "name": None, "erased": True},
        {"id": bo, "name": "Bo Berg", "erased": False},
    ]
    for query in ("lovelace", "lovelase", "ann lovelace", "ann@lovelace.example", "hr-1815"):
        assert await hits(graphql, query, at) == [], query
    assert [h["id"] for h in await hits(graphql, "berg", at)] == [bo]


async def test_a_forgotten_participant_is_erased_on_every_read_path_and_after_a_rebuild(
    api: Any, graphql: GraphQL, settled: Any, runtime: Runtime, database_url: str, tmp_path: Path
) -> None:
    ann = (await api.command("register-participant", external_ref="hr-1815", **ANN)).id
    await api.command("update-participant", participant_id=ann, changes={"phone": "+4420794600"})
    bo = (await api.command("register-participant", name="Bo Berg")).id
    crew = (await api.command("create-group", name="Crew")).id
    group = await api.command("add-group-members", group_id=crew, participant_ids=[ann, bo])

    # Before: everything reads in full (and lands in the read side's caches).
    seen = (await graphql.data(PARTICIPANT, {"id": ann}, min_position=group.position))[
        "participant"
    ]
    assert (seen["name"], seen["email"], seen["erased"]) == ("Ann Lovelace", ANN["email"], False)
    [hit] = await hits(graphql, "lovelase", group.position)
    assert hit["id"] == ann
    assert "<b>Lovelace</b>" in hit["snippet"]

    registered = group.position - 4  # Ann's registration, before her update
    past = (await graphql.data(RECORD_AT, {"id": ann, "at": registered}))["recordAt"]
    assert past["state"]["email"] == ANN["email"]

    forgotten = await api.command("forget-participant", participant_id=ann)
    # Her past states replay from the events too, with no key: as erased as the present.
    at = {"id": ann, "at": registered}
    past = (await graphql.data(RECORD_AT, at, min_position=forgotten.position))["recordAt"]
    assert (past["version"], past["state"]["name"], past["state"]["email"]) == (1, None, None)
    assert past["state"]["external_ref"] == "hr-1815"
    await erased_everywhere(graphql, ann, bo, crew, forgotten.position)
    await settled(forgotten.position)

    # The stream is intact, but no personal value is left in it in the clear, nor in a read model.
    events = rows(database_url, f"SELECT topic, state FROM {EVENTS_TABLE} ORDER BY notification_id")
    topics = [t.rsplit(".", 1)[-1] for t, _ in events if "Participant" in t]
    assert topics == ["Registered", "Updated", "Registered", "Forgotten"]
    for _, state in events:
        assert not any(p in bytes(state) for p in PLAINTEXTS), bytes(state)
    assert rows(database_url, f"SELECT key FROM {KEYS_TABLE} WHERE subject_id = '{ann}'") == [
        (None,)
    ]
    with psycopg.connect(database_url) as conn:
        conn.execute("SET ROLE bsdflow_reader")  # the read API's role never sees a key
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"SELECT count(*) FROM {KEYS_TABLE}")
    read_models = (
        f"SELECT p::text FROM {schema_named('participants')}.participants p UNION ALL "
        f"SELECT s::text FROM {schema_named('search')}.items s UNION ALL "
        f"SELECT w::text FROM {schema_named('search')}.words w UNION ALL "
        f"SELECT v::text FROM {schema_named('search')}.word_variants v"
    )
    assert not any(b"ovelace" in text.encode() for (text,) in rows(database_url, read_models))

    # Forgetting again is a no-op; changing a forgotten participant is a conflict.
    again = await api.command("forget-participant", participant_id=ann)
    assert again.body["version"] == forgotten.body["version"]
    refused = await api.post(
        "update-participant", {"participant_id": ann, "changes": {"name": "Ann"}}
    )
    assert refused.status == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "forgotten" in refused.body["detail"]

    # A rebuild replays the sealed events, finds no key, and keeps the subject erased.
    for projection in ("participants", "search"):
        result = CliRunner().invoke(
            cli, ["projections", "rebuild", projection], env=servers_env(runtime, tmp_path)
        )
        assert result.exit_code == 0, result.output
    await erased_everywhere(graphql, ann, bo, crew, again.position)
    assert not any(b"ovelace" in text.encode() for (text,) in rows(database_url, read_models))


async def test_forgetting_needs_the_erase_grant_and_stays_in_its_tenant(api: Any) -> None:
    ann = (await api.command("register-participant", **ANN)).id
    editor = api.mint("acme", "editor")
    refused = await api.post("forget-participant", {"participant_id": ann}, token=editor)
    assert refused.status == 403
    platform = api.mint("platform", "platform")
    await api.command("create-tenant", token=platform, slug="globex", name="Globex")
    other = await api.post(
        "forget-participant", {"participant_id": ann}, token=api.mint("globex", "admin")
    )
    assert other.status == 404
    count = api.event_count()
    assert (await api.post("forget-participant", {"participant_id": "nope"})).status == 422
    assert api.event_count() == count


async def test_a_participant_stored_before_sealing_still_reads_and_is_sealed_from_then_on(
    api: Any, database_url: str
) -> None:
    legacy = uuid4()
    plain = orjson.dumps(
        {
            "timestamp": "2025-01-01T00:00:00+00:00",
            "originator_topic": "domain.participant:Participant",
            "tenant_id": str(tenant_id_for("acme")),
            "kind": "person",
            "name": "Old Timer",
            "email": "old@example.com",
            "phone": None,
            "external_ref": None,
        }
    )
    with psycopg.connect(database_url) as conn:
        conn.execute(
            f"INSERT INTO {EVENTS_TABLE} (originator_id, originator_version, topic, state) "
            "VALUES (%s, 1, %s, %s)",
            (legacy, "domain.participant:Participant.Registered", plain),
        )
    loaded = api.runtime.store.find(Participant, legacy)
    assert (loaded.name, loaded.email, loaded.forgotten) == ("Old Timer", "old@example.com", False)

    await api.command(
        "update-participant", participant_id=str(legacy), changes={"phone": "+49301234567"}
    )
    [(state,)] = rows(
        database_url,
        f"SELECT state FROM {EVENTS_TABLE} WHERE originator_id = '{legacy}' AND originator_version = 2",
    )
    assert b"1234567" not in bytes(state)
    assert api.runtime.store.find(Participant, legacy).phone == "+49301234567"

    await api.command("forget-participant", participant_id=str(legacy))
    forgotten = api.runtime.store.find(Participant, legacy)
    assert (forgotten.name, forgotten.email, forgotten.phone) == (None, None, None)


ENTITY = "query ($id: UUID!) { entity(id: $id) { id title data } }"
ENTITIES = "{ entities { edges { node { id title data } } } }"
PATIENT_FIELDS = [
    {"name": "code", "type": "text", "required": True, "searchable": "A"},
    {"name": "full_name", "type": "text", "required": True, "personal": True},
    {"name": "birthday", "type": "date", "personal": True},
    {"name": "ward", "type": "text", "searchable": "B"},
]


async def test_forgotten_personal_entity_fields_are_erased_and_stay_so_after_a_rebuild(
    api: Any, graphql: GraphQL, settled: Any, runtime: Runtime, database_url: str, tmp_path: Path
) -> None:
    kind = (await api.command("define-entity-type", name="Patient", fields=PATIENT_FIELDS)).id
    data = {"code": "P-7", "full_name": "Ada Byron", "birthday": "1815-12-10", "ward": "east"}
    entity = (await api.command("create-entity", entity_type_id=kind, data=data)).id
    # Enough changes for a snapshot (every 50 events): it holds the data sealed too.
    for n in range(SNAPSHOT_EVERY):
        last = await api.command("update-entity", entity_id=entity, data={"full_name": f"Ada {n}"})
    seen = (await graphql.data(ENTITY, {"id": entity}, min_position=last.position))["entity"]
    assert (seen["title"], seen["data"]["full_name"]) == ("P-7", f"Ada {SNAPSHOT_EVERY - 1}")
    [(snapshot,)] = rows(
        database_url, f"SELECT state FROM {SNAPSHOTS_TABLE} WHERE originator_id = '{entity}'"
    )
    assert b"Ada" not in bytes(snapshot)
    assert b"1815" not in bytes(snapshot)

    forgotten = await api.command("forget-entity", entity_id=entity)
    erased = {"code": "P-7", "ward": "east"}

    async def erased_everywhere(at: int) -> None:
        found = (await graphql.data(ENTITY, {"id": entity}, min_position=at))["entity"]
        assert (found["title"], found["data"]) == ("P-7", erased)
        listed = (await graphql.data(ENTITIES, min_position=at))["entities"]["edges"]
        assert [e["node"]["data"] for e in listed] == [erased]
        assert [h["id"] for h in await hits(graphql, "east", at)] == [entity]
        assert await hits(graphql, "ada", at) == []

    await erased_everywhere(forgotten.position)
    await settled(forgotten.position)
    for _, state in rows(database_url, f"SELECT topic, state FROM {EVENTS_TABLE}"):
        assert b"Ada" not in bytes(state)
    read_models = (
        f"SELECT e::text FROM {schema_named('entities')}.entities e UNION ALL "
        f"SELECT s::text FROM {schema_named('search')}.items s"
    )
    assert not any("Ada" in text or "1815" in text for (text,) in rows(database_url, read_models))

    # The entity loads from its snapshot and later events, erased; other fields still change.
    moved = await api.command("update-entity", entity_id=entity, data={"ward": "west"})
    refused = await api.post("update-entity", {"entity_id": entity, "data": {"full_name": "Ada"}})
    assert refused.status == 409
    erased["ward"] = "west"
    for projection in ("entities", "search"):
        result = CliRunner().invoke(
            cli, ["projections", "rebuild", projection], env=servers_env(runtime, tmp_path)
        )
        assert result.exit_code == 0, result.output
    found = (await graphql.data(ENTITY, {"id": entity}, min_position=moved.position))["entity"]
    assert found["data"] == erased
    assert not any("Ada" in text or "1815" in text for (text,) in rows(database_url, read_models))

"""The audit trail and a record's history, checked against the raw event store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from eventstore.envelope import decode_event
from eventstore.reading import events_after
from tests.conftest import graphql_settings
from tests.integration.test_graphql import GraphQL, serving, site, site_type


@pytest.fixture
async def graphql(runtime: Any, api: Any, read_side: Any) -> AsyncIterator[GraphQL]:
    async with serving(runtime, api.token) as client:
        yield client


CHANGE = "id position aggregateId aggregateType event version at actor command correlationId fields"


def stored(runtime: Any, aggregate_id: str) -> list[Any]:
    """The record's events as the event store holds them."""
    with psycopg.connect(runtime.urls.database_url) as conn:
        rows = events_after(conn, 0, 10_000)
    return [e for e in (decode_event(*row) for row in rows) if str(e.originator_id) == aggregate_id]


async def test_history_is_every_stored_change_of_a_record_with_who_how_and_what(
    api,
    graphql,
    settled,
    runtime,
):
    type_id = await site_type(api)
    created = await site(api, type_id, "Depot", city="Lisbon")
    editor = api.mint("acme", "editor", actor="ana")
    moved = await api.post(
        "update-entity",
        {"entity_id": created.id, "data": {"city": "Porto", "population": 12}},
        token=editor,
        headers={"X-Correlation-Id": "move-42"},
    )
    assert moved.status == 200, moved.body
    await settled(moved.body["position"])

    body = await graphql.data(
        f"query($id: UUID!) {{ history(id: $id) {{ {CHANGE} }} }}", {"id": created.id}
    )

    events = stored(runtime, created.id)
    assert [(c["position"], c["version"]) for c in body["history"]] == [
        (e.position, e.version) for e in events
    ]
    assert [(c["event"], c["actor"], c["command"], c["fields"]) for c in body["history"]] == [
        ("Created", "tester", "create-entity", ["city", "entity_type_id", "title"]),
        ("Updated", "ana", "update-entity", ["city", "population"]),
    ]
    assert [c["correlationId"] for c in body["history"]] == [
        e.meta["correlation_id"] for e in events
    ]
    assert body["history"][1]["correlationId"] == "move-42"
    assert {c["aggregateType"] for c in body["history"]} == {"Entity"}
    # Rendered by PostgreSQL (plain fields), the answer is what the resolvers give.
    async with serving(runtime, api.token, graphql_settings(fast_lists=False)) as executed:
        for query in (
            f"query($id: UUID!) {{ history(id: $id) {{ {CHANGE} }} }}",
            f"query($id: UUID!) {{ auditLog(filter: {{aggregateId: $id}}) {{ edges {{ cursor "
            f"node {{ {CHANGE} __typename }} }} pageInfo {{ endCursor hasNextPage }} }} }}",
        ):
            fast = await graphql.query(query, {"id": created.id})
            slow = await executed.query(query, {"id": created.id})
            assert fast["data"] == slow["data"]


async def test_the_audit_log_filters_by_actor_command_correlation_and_record(
    api,
    graphql,
    settled,
):
    type_id = await site_type(api)
    first = await site(api, type_id, "North")
    ana = api.mint("acme", "editor", actor="ana")
    second = await api.command(
        "create-entity", token=ana, entity_type_id=type_id, data={"title": "South"}
    )
    await settled(second.position)
    query = f"""query($f: AuditFilter, $first: Int!, $after: String) {{
        auditLog(filter: $f, first: $first, after: $after) {{
            edges {{ node {{ {CHANGE} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"""

    async def log(f: dict[str, Any], first: int = 50, after: str | None = None) -> Any:
        found = await graphql.data(query, {"f": f, "first": first, "after": after})
        return found["auditLog"]

    by_ana = await log({"actor": "ana"})
    assert [e["node"]["aggregateId"] for e in by_ana["edges"]] == [second.id]
    created = await log({"command": "create-entity"})
    assert [e["node"]["aggregateId"] for e in created["edges"]] == [second.id, first.id]
    of_first = await log({"aggregateId": first.id})
    assert [e["node"]["event"] for e in of_first["edges"]] == ["Created"]
    assert (await log({"correlationId": "no-such-request"}))["edges"] == []
    # newest first, page by page, every change once
    everything = await log({}, first=200)
    pages, after = [], None
    while True:
        page = await log({}, first=2, after=after)
        pages += [e["node"]["position"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    positions = [e["node"]["position"] for e in everything["edges"]]
    assert pages == positions == sorted(positions, reverse=True)
    assert len(positions) == 3  # the type and two entities (the platform created the tenant)


async def test_only_admins_read_the_audit_trail_and_only_their_tenants(
    api,
    graphql,
    settled,
):
    type_id = await site_type(api)
    entity = await site(api, type_id, "Depot")
    platform = api.mint("platform", "platform")
    other = await api.command("create-tenant", token=platform, slug="globex", name="Globex")
    await settled(max(entity.position, other.position))
    query = "query($id: UUID!) { history(id: $id) { position } auditLog { edges { node { aggregateId } } } }"

    viewer = await graphql.query(query, {"id": entity.id}, token=api.mint("acme", "viewer"))
    assert viewer["data"] is None
    assert {e["extensions"]["code"] for e in viewer["errors"]} == {"FORBIDDEN"}
    globex = await graphql.data(query, {"id": entity.id}, token=api.mint("globex", "admin"))
    assert globex["history"] == []
    assert entity.id not in {e["node"]["aggregateId"] for e in globex["auditLog"]["edges"]}


async def test_a_record_at_any_position_is_what_its_events_made_it(api, graphql, settled):
    type_id = await site_type(api)
    created = await site(api, type_id, "Depot", city="Lisbon")
    moved = await api.command("update-entity", entity_id=created.id, data={"city": "Porto"})
    grown = await api.command("update-entity", entity_id=created.id, data={"population": 7})
    opened = await api.command("open-process", kind="audit", title="Check", stages=["a", "b"])
    await api.command("enter-stage", process_id=opened.id, stage="b")
    query = """query($id: UUID!, $at: Int!) {
        recordAt(id: $id, position: $at) { id kind version position at state } }"""

    async def at(record: str, position: int, token: str | None = None) -> Any:
        return (await graphql.data(query, {"id": record, "at": position}, token=token))["recordAt"]

    assert await at(created.id, created.position - 1) is None  # not yet created
    first = await at(created.id, created.position)
    assert (first["kind"], first["version"], first["position"]) == ("Entity", 1, created.position)
    assert first["state"]["data"] == {"title": "Depot", "city": "Lisbon"}
    # any position between two changes shows the earlier one
    between = await at(created.id, grown.position - 1)
    assert (between["version"], between["position"]) == (2, moved.position)
    assert between["state"]["data"] == {"title": "Depot", "city": "Porto"}
    latest = await at(created.id, 1_000_000)
    assert latest["state"]["data"] == {"title": "Depot", "city": "Porto", "population": 7}
    events = stored(api.runtime, created.id)
    assert [e.position for e in events] == [created.position, moved.position, grown.position]
    assert latest["at"].startswith(events[-1].timestamp.date().isoformat())

    process = await at(opened.id, opened.position)
    assert (process["kind"], process["state"]["stage"]) == ("Process", "a")
    assert (await at(opened.id, 1_000_000))["state"]["stage"] == "b"

    # Another tenant's record is not there; a role that does not read processes sees none.
    platform = api.mint("platform", "platform")
    await api.command("create-tenant", token=platform, slug="globex", name="Globex")
    assert await at(created.id, 1_000_000, token=api.mint("globex", "admin")) is None
    await api.command("define-role", name="sites", grants=["read:entities"])
    sites = api.mint("acme", "sites")
    assert await at(opened.id, 1_000_000, token=sites) is None
    assert (await at(created.id, 1_000_000, token=sites))["version"] == 3
    refused = await graphql.query(query, {"id": created.id, "at": -1})
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_an_entity_and_a_participant_at_a_position_are_their_own_types(api, graphql, settled):
    type_id = await site_type(api)
    created = await site(api, type_id, "Depot", city="Lisbon")
    renamed = await api.command("update-entity", entity_id=created.id, data={"title": "Hub"})
    joined = await api.command("register-participant", kind="person", name="Ana Lima")
    changed = await api.command(
        "update-participant", participant_id=joined.id, changes={"name": "Ana Souza"}
    )
    await settled(changed.position)
    entity = """query($id: UUID!, $at: Int) { entity(id: $id, atPosition: $at) {
        title version data entityType { name } } }"""
    person = """query($id: UUID!, $at: Int) { participant(id: $id, atPosition: $at) {
        name version erased } }"""

    async def at(query: str, record: str, position: int | None) -> Any:
        found = await graphql.data(query, {"id": record, "at": position})
        return found["entity" if "entity(" in query else "participant"]

    then = await at(entity, created.id, renamed.position - 1)
    assert then == {
        "title": "Depot",
        "version": 1,
        "data": {"title": "Depot", "city": "Lisbon"},
        "entityType": {"name": "Site"},
    }
    assert (await at(entity, created.id, None))["title"] == "Hub"  # without it: now
    assert await at(entity, created.id, created.position - 1) is None  # not yet created
    assert (await at(entity, created.id, 1_000_000))["version"] == len(
        stored(api.runtime, created.id)
    )
    assert await at(person, joined.id, changed.position - 1) == {
        "name": "Ana Lima",
        "version": 1,
        "erased": False,
    }
    assert await at(entity, joined.id, 1_000_000) is None  # a participant is not an entity

    forgotten = await api.command("forget-participant", participant_id=joined.id)
    await settled(forgotten.position)
    assert await at(person, joined.id, changed.position - 1) == {
        "name": None,
        "version": 1,
        "erased": True,
    }


async def test_a_process_at_a_position_is_its_own_type_with_its_closing_time(api, graphql, settled):
    type_id = await site_type(api)
    depot = await site(api, type_id, "Depot")
    opened = await api.command("open-process", kind="audit", title="Check", stages=["a", "b"])
    moved = await api.command("enter-stage", process_id=opened.id, stage="b")
    closed = await api.command("close-process", process_id=opened.id, outcome="passed")
    # a closed case still takes links: its closing time is the Closed event's, not the last's
    linked = await api.command("link-process-entity", process_id=opened.id, entity_id=depot.id)
    reopened = await api.command("reopen-process", process_id=opened.id, reason="again")
    await settled(reopened.position)
    query = """query($id: UUID!, $at: Int) { process(id: $id, atPosition: $at) {
        stage status outcome version closedAt openedAt entities { title } } }"""

    async def at(position: int | None) -> Any:
        return (await graphql.data(query, {"id": opened.id, "at": position}))["process"]

    assert await at(opened.position - 1) is None
    first = await at(moved.position - 1)
    assert (first["stage"], first["status"], first["version"]) == ("a", "open", 1)
    assert first["closedAt"] is None
    events = stored(api.runtime, opened.id)
    assert first["openedAt"] == events[0].timestamp.isoformat()
    then = await at(linked.position)
    assert (then["stage"], then["status"], then["outcome"]) == ("b", "closed", "passed")
    assert then["closedAt"] == events[2].timestamp.isoformat()  # the Closed event's time
    assert then["closedAt"] != events[3].timestamp.isoformat()
    assert then["entities"] == [{"title": "Depot"}]
    now = await at(None)
    assert (now["status"], now["closedAt"], now["version"]) == ("open", None, 5)
    assert (await at(closed.position))["version"] == 3

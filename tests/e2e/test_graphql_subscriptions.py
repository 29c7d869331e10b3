"""Subscriptions end to end: a real uvicorn server, the real `gql` client on graphql-transport-ws.

HTTP command → relay → Kafka → projection → Redis pub/sub → fan-out → websocket message carrying
the new state and its position. The legacy `graphql-ws` subprotocol is refused at the
handshake, another tenant's subscriber receives nothing, and a client that leaves leaves no
subscriber behind.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
import websockets
from gql import Client, gql
from gql.transport.exceptions import TransportError
from gql.transport.websockets import WebsocketsTransport

from infra.api import create_app
from tests.conftest import graphql_settings
from tests.e2e.conftest import Served
from tests.servers import uvicorn_serving

# Plain strings: gql's request objects keep the variables of their last use.
ENTITY_CHANGED = """subscription($type: UUID) { entityChanged(entityTypeId: $type) {
    position event entity { id title data entityType { name } } } }"""
OCCURRENCE_RECORDED = """subscription { occurrenceRecorded(kind: "leak") {
    position occurrence { kind data } } }"""
PROCESS_CHANGED = """subscription($id: UUID) { processChanged(id: $id) {
    position event process { stage stageHistory { stage } } } }"""


async def command(
    http: httpx.AsyncClient, token: str, command_name: str, /, **body: Any
) -> dict[str, Any]:
    response = await http.post(
        f"/v1/commands/{command_name}", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def transport(served: Served, token: str, **kw: Any) -> WebsocketsTransport:
    return WebsocketsTransport(
        url=served.ws_url,
        init_payload={"Authorization": f"Bearer {token}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        **kw,
    )


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for server-side state (a subscription registered or gone), like `settled` does."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_a_command_reaches_a_subscriber_with_its_position(served, http, api):
    site = await command(http, api.token, "define-entity-type", name="Site",
                         fields=[{"name": "title", "type": "text"}])  # fmt: skip
    async with Client(transport=transport(served, api.token)) as session:
        updates = session.subscribe(gql(ENTITY_CHANGED), variable_values={"type": site["id"]})
        first = asyncio.ensure_future(anext(updates))
        await until(lambda: served.services.fanout.subscriber_count == 1)
        created = await command(http, api.token, "create-entity", entity_type_id=site["id"],
                                data={"title": "Jerusalem depot"})  # fmt: skip
        message = (await asyncio.wait_for(first, 30))["entityChanged"]
        assert message["position"] == created["position"]
        assert message["event"] == "Entity.Created"
        assert message["entity"] == {
            "id": created["id"],
            "title": "Jerusalem depot",
            "data": {"title": "Jerusalem depot"},
            "entityType": {"name": "Site"},
        }
        updated = await command(http, api.token, "update-entity", entity_id=created["id"],
                                data={"title": "Jerusalem yard"})  # fmt: skip
        message = (await asyncio.wait_for(anext(updates), 30))["entityChanged"]
        assert (message["position"], message["entity"]["title"]) == (
            updated["position"], "Jerusalem yard"
        )  # fmt: skip
        await updates.aclose()
    await until(lambda: served.services.fanout.subscriber_count == 0)


async def test_process_changes_are_filtered_by_id(served, http, api, settled):
    opened = await command(http, api.token, "open-process", kind="inspection", title="Pump",
                           stages=["new", "review"])  # fmt: skip
    other = await command(http, api.token, "open-process", kind="audit", title="Books",
                          stages=["new", "done"])  # fmt: skip
    await settled(other["position"])  # the openings are history: only later changes stream
    async with Client(transport=transport(served, api.token)) as session:
        updates = session.subscribe(gql(PROCESS_CHANGED), variable_values={"id": opened["id"]})
        first = asyncio.ensure_future(anext(updates))
        await until(lambda: served.services.fanout.subscriber_count == 1)
        await command(http, api.token, "enter-stage", process_id=other["id"], stage="done")
        moved = await command(http, api.token, "enter-stage", process_id=opened["id"],
                              stage="review")  # fmt: skip
        message = (await asyncio.wait_for(first, 30))["processChanged"]
        assert message["position"] == moved["position"]
        assert message["process"] == {
            "stage": "review",
            "stageHistory": [{"stage": "new"}, {"stage": "review"}],
        }
        await updates.aclose()
    await until(lambda: served.services.fanout.subscriber_count == 0)


BOARD_CHANGED = """subscription { processBoardChanged(definition: "permit") {
    position event process { title stage definitionVersion } } }"""


async def test_a_board_streams_the_changes_of_its_definitions_cases(served, http, api, settled):
    await command(http, api.token, "publish-process-definition", key="permit", name="Permit",
                  stages=["asked", "granted"],
                  transitions=[{"name": "grant", "from": "asked", "to": "granted"}])  # fmt: skip
    shed = await command(http, api.token, "open-process", definition="permit", title="Shed")
    free = await command(http, api.token, "open-process", kind="permit", title="Free",
                         stages=["asked", "granted"])  # fmt: skip
    await settled(free["position"])
    async with Client(transport=transport(served, api.token)) as session:
        updates = session.subscribe(gql(BOARD_CHANGED))
        first = asyncio.ensure_future(anext(updates))
        await until(lambda: served.services.fanout.subscriber_count == 1)
        # A process of the same kind without the definition is not on its board.
        await command(http, api.token, "enter-stage", process_id=free["id"], stage="granted")
        moved = await command(http, api.token, "move-process", process_id=shed["id"],
                              transition="grant")  # fmt: skip
        message = (await asyncio.wait_for(first, 30))["processBoardChanged"]
        assert message == {
            "position": moved["position"],
            "event": "Process.StageEntered",
            "process": {"title": "Shed", "stage": "granted", "definitionVersion": 1},
        }
        await updates.aclose()
    await until(lambda: served.services.fanout.subscriber_count == 0)


async def test_recorded_occurrences_are_filtered_by_kind(served, http, api):
    async with Client(transport=transport(served, api.token)) as session:
        updates = session.subscribe(gql(OCCURRENCE_RECORDED))
        first = asyncio.ensure_future(anext(updates))
        await until(lambda: served.services.fanout.subscriber_count == 1)
        when = "2025-03-01T12:00:00+00:00"
        await command(http, api.token, "record-occurrence", kind="visit", occurred_at=when)
        leak = await command(http, api.token, "record-occurrence", kind="leak", occurred_at=when,
                             data={"litres": 40})  # fmt: skip
        message = (await asyncio.wait_for(first, 30))["occurrenceRecorded"]
        assert message == {
            "position": leak["position"],
            "occurrence": {"kind": "leak", "data": {"litres": 40}},
        }
        await updates.aclose()
    await until(lambda: served.services.fanout.subscriber_count == 0)


async def test_tenant_b_receives_nothing_of_tenant_a(served, http, api):
    await command(http, api.mint("platform", "platform"), "create-tenant", slug="beta", name="B")
    beta = api.mint("beta", "admin")
    a_type = await command(http, api.token, "define-entity-type", name="Site", fields=[])
    b_type = await command(http, beta, "define-entity-type", name="Site", fields=[])
    async with Client(transport=transport(served, beta)) as session:
        updates = session.subscribe(gql(ENTITY_CHANGED))
        first = asyncio.ensure_future(anext(updates))
        await until(lambda: served.services.fanout.subscriber_count == 1)
        from_a = await command(http, api.token, "create-entity", entity_type_id=a_type["id"],
                               data={})  # fmt: skip
        from_b = await command(http, beta, "create-entity", entity_type_id=b_type["id"], data={})
        assert from_a["position"] < from_b["position"]
        message = (await asyncio.wait_for(first, 30))["entityChanged"]
        # Changes arrive in order: had A's change reached B, it would have come first.
        assert message["entity"]["id"] == from_b["id"]
        await updates.aclose()
    await until(lambda: served.services.fanout.subscriber_count == 0)


async def test_legacy_protocol_and_bad_tokens_are_refused(served, api):
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        async with websockets.connect(served.ws_url, subprotocols=["graphql-ws"]):
            pass
    assert refused.value.response.status_code == 403

    legacy = WebsocketsTransport(
        url=served.ws_url, subprotocols=[WebsocketsTransport.APOLLO_SUBPROTOCOL]
    )
    with pytest.raises((TransportError, websockets.exceptions.InvalidStatus)):
        async with Client(transport=legacy) as session:
            await session.execute(gql("{ counts { entities } }"))

    with pytest.raises(TransportError):
        async with Client(transport=transport(served, "not-a-token")) as session:
            await anext(session.subscribe(gql(ENTITY_CHANGED)))
    assert served.services.fanout.subscriber_count == 0


async def test_identical_subscriptions_share_one_stream(served, http, api):
    """Two sockets with the same subscription are one fan-out subscriber; both get each change,
    the one that stays keeps getting them after the other left, and other variables are apart."""
    site = await command(http, api.token, "define-entity-type", name="Site", fields=[])
    depot = await command(http, api.token, "define-entity-type", name="Depot", fields=[])
    async with (
        Client(transport=transport(served, api.token)) as one,
        Client(transport=transport(served, api.token)) as two,
        Client(transport=transport(served, api.token)) as other,
    ):
        sites_one = one.subscribe(gql(ENTITY_CHANGED), variable_values={"type": site["id"]})
        sites_two = two.subscribe(gql(ENTITY_CHANGED), variable_values={"type": site["id"]})
        depots = other.subscribe(gql(ENTITY_CHANGED), variable_values={"type": depot["id"]})
        first_one, first_two, first_depot = (
            asyncio.ensure_future(anext(updates)) for updates in (sites_one, sites_two, depots)
        )
        await until(lambda: served.services.fanout.subscriber_count == 2)
        created = await command(http, api.token, "create-entity", entity_type_id=site["id"],
                                data={})  # fmt: skip
        for first in (first_one, first_two):
            message = (await asyncio.wait_for(first, 30))["entityChanged"]
            assert (message["position"], message["entity"]["id"]) == (
                created["position"], created["id"]
            )  # fmt: skip
        assert not first_depot.done()
        await sites_two.aclose()
        again = await command(http, api.token, "create-entity", entity_type_id=site["id"],
                              data={})  # fmt: skip
        message = (await asyncio.wait_for(anext(sites_one), 30))["entityChanged"]
        assert message["position"] == again["position"]
        in_depot = await command(http, api.token, "create-entity", entity_type_id=depot["id"],
                                 data={})  # fmt: skip
        message = (await asyncio.wait_for(first_depot, 30))["entityChanged"]
        assert message["position"] == in_depot["position"]
        await sites_one.aclose()
        await depots.aclose()
    await until(lambda: served.services.fanout.subscriber_count == 0)


async def connected(served: Served, token: str) -> Any:
    """A raw graphql-transport-ws socket past `connection_ack` (close codes are the point)."""
    socket = await websockets.connect(served.ws_url, subprotocols=["graphql-transport-ws"])
    init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
    await socket.send(json.dumps(init))
    assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "connection_ack"
    return socket


async def test_a_socket_is_closed_when_its_token_expires(served, api):
    token = api.runtime.tokens.mint("acme", ["viewer"], ttl_seconds=2)
    expires_at = jwt.decode(token, options={"verify_signature": False})["exp"]
    socket = await connected(served, token)
    subscribe = {"id": "1", "type": "subscribe", "payload": {"query": ENTITY_CHANGED}}
    await socket.send(json.dumps(subscribe))
    await until(lambda: served.services.fanout.subscriber_count == 1)
    await asyncio.wait_for(socket.wait_closed(), 30)  # bounded: the server must close it
    assert socket.close_code == 4403
    assert "expired" in (socket.close_reason or "")
    assert time.time() >= expires_at - 0.5  # not before the token's expiry
    await until(lambda: served.services.fanout.subscriber_count == 0)


async def test_an_oversized_subscribe_message_is_refused_before_parsing(served, api):
    socket = await connected(served, api.token)
    try:
        query = "#" + "x" * 100_000 + "\n" + ENTITY_CHANGED
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        answer = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert answer["type"] == "error"
        assert answer["payload"][0]["extensions"]["code"] == "BAD_REQUEST"
        assert served.services.fanout.subscriber_count == 0
    finally:
        await socket.close()


async def test_a_restricted_reader_is_pushed_only_what_its_row_rule_shows(served, http, api):
    fields = [{"name": "title", "type": "text"}, {"name": "region", "type": "text"},
              {"name": "salary", "type": "integer"}]  # fmt: skip
    site = await command(http, api.token, "define-entity-type", name="Site", fields=fields)
    grant = {"read": "entities", "where": {"==": [{"var": "data.region"}, "north"]},
             "hide": ["salary"]}  # fmt: skip
    await command(http, api.token, "define-role", name="northern", grants=[grant])
    northern = api.mint("acme", "northern", actor="ivy")
    async with (
        Client(transport=transport(served, api.token)) as admin_session,
        Client(transport=transport(served, northern)) as session,
    ):
        # The same document from an admin: readers who see differently never share a stream.
        everything = admin_session.subscribe(gql(ENTITY_CHANGED))
        admin_first = asyncio.ensure_future(anext(everything))
        updates = session.subscribe(gql(ENTITY_CHANGED))
        first = asyncio.ensure_future(anext(updates))
        await until(lambda: served.services.fanout.subscriber_count == 2)
        hidden = await command(http, api.token, "create-entity", entity_type_id=site["id"],
                               data={"title": "South", "region": "south", "salary": 1})  # fmt: skip
        shown = await command(http, api.token, "create-entity", entity_type_id=site["id"],
                              data={"title": "North", "region": "north", "salary": 2})  # fmt: skip
        assert hidden["position"] < shown["position"]
        message = (await asyncio.wait_for(first, 30))["entityChanged"]
        # Changes arrive in order: had the southern one been pushed, it would have come first.
        assert message["entity"]["id"] == shown["id"]
        assert message["entity"]["data"] == {"title": "North", "region": "north"}
        seen_by_admin = (await asyncio.wait_for(admin_first, 30))["entityChanged"]
        assert seen_by_admin["entity"]["id"] == hidden["id"]
        assert seen_by_admin["entity"]["data"]["salary"] == 1
        await updates.aclose()
        await everything.aclose()
    await until(lambda: served.services.fanout.subscriber_count == 0)


async def test_a_socket_is_closed_when_its_readers_grants_change(served, http, api):
    viewer = await connected(served, api.mint("acme", "viewer", actor="val"))
    editor = await connected(served, api.mint("acme", "editor", actor="ed"))
    for socket in (viewer, editor):
        await socket.send(json.dumps({"id": "1", "type": "subscribe",
                                      "payload": {"query": ENTITY_CHANGED}}))  # fmt: skip
    await until(lambda: served.services.fanout.subscriber_count >= 1)
    await command(http, api.token, "change-role", name="viewer", grants=["read:processes"])
    await asyncio.wait_for(viewer.wait_closed(), 30)  # bounded: the server must close it
    assert viewer.close_code == 4403
    assert viewer.close_reason == "Access changed"
    # The editor's grants did not change: its socket still answers.
    await editor.send(json.dumps({"type": "ping"}))
    assert json.loads(await asyncio.wait_for(editor.recv(), 10))["type"] == "pong"
    await editor.close()


async def closed_with(socket: Any) -> tuple[int | None, str | None]:
    await asyncio.wait_for(socket.wait_closed(), 30)  # bounded: the server must close it
    return socket.close_code, socket.close_reason


async def test_the_websocket_protocol_is_enforced(served, api, runtime):
    """graphql-transport-ws as specified: a second `connection_init` is 4429, a bad token in it
    4403, and a socket that never sends one is closed with 4408 once its time is up."""
    twice = await connected(served, api.token)
    await twice.send(json.dumps({"type": "connection_init", "payload": {}}))
    assert (await closed_with(twice))[0] == 4429

    forged = await websockets.connect(served.ws_url, subprotocols=["graphql-transport-ws"])
    await forged.send(json.dumps({"type": "connection_init", "payload": {"token": "forged"}}))
    assert (await closed_with(forged))[0] == 4403

    impatient = create_app(runtime, graphql_settings(connection_init_timeout=0.5))
    with uvicorn_serving(impatient) as port:
        url = f"ws://127.0.0.1:{port}/graphql"
        silent = await websockets.connect(url, subprotocols=["graphql-transport-ws"])
        assert (await closed_with(silent))[0] == 4408
    assert served.services.fanout.subscriber_count == 0


async def test_a_process_row_rule_shapes_what_process_changed_pushes(served, http, api, settled):
    ivy = await command(http, api.token, "register-participant", name="Ivy")
    mine = {"in": [{"var": "me.participant_id"}, {"var": "participants"}]}
    grant = {"read": "processes", "where": mine, "hide": ["fee"]}
    await command(http, api.token, "define-role", name="taking-part", grants=[grant])
    reader = api.runtime.tokens.mint("acme", ["taking-part"], claims={"participant_id": ivy["id"]})
    opened = {}
    for name in ("theirs", "mine"):
        opened[name] = await command(http, api.token, "open-process", kind="audit", title=name,
                                     stages=["new", "done"], data={"fee": 7})  # fmt: skip
    assigned = await command(http, api.token, "assign-participant",
                             process_id=opened["mine"]["id"], participant_id=ivy["id"],
                             role="auditor")  # fmt: skip
    await settled(assigned["position"])
    query = "subscription { processChanged { position process { id stage data } } }"
    async with Client(transport=transport(served, reader)) as session:
        updates = session.subscribe(gql(query))
        first = asyncio.ensure_future(anext(updates))
        await until(lambda: served.services.fanout.subscriber_count == 1)
        hidden = await command(http, api.token, "enter-stage", process_id=opened["theirs"]["id"],
                               stage="done")  # fmt: skip
        shown = await command(http, api.token, "enter-stage", process_id=opened["mine"]["id"],
                              stage="done")  # fmt: skip
        assert hidden["position"] < shown["position"]
        # Changes arrive in order: had the hidden one been pushed, it would have come before
        # the shown one (a late notice of the shown process's own earlier changes may, too).
        message = (await asyncio.wait_for(first, 30))["processChanged"]
        while message["position"] < shown["position"]:
            assert message["process"]["id"] == opened["mine"]["id"], message
            message = (await asyncio.wait_for(anext(updates), 30))["processChanged"]
        assert message["position"] == shown["position"]
        assert message["process"] == {"id": opened["mine"]["id"], "stage": "done", "data": {}}
        await updates.aclose()
    await until(lambda: served.services.fanout.subscriber_count == 0)


async def test_an_occurrence_row_rule_shapes_what_occurrence_recorded_pushes(
    served, http, api, settled
):
    region = {"==": [{"var": "data.region"}, {"var": "me.claims.region"}]}
    grant = {"read": "occurrences", "types": ["incident"], "where": region, "hide": ["notes"]}
    defined = await command(http, api.token, "define-role", name="desk", grants=[grant])
    await settled(defined["position"])
    reader = api.runtime.tokens.mint("acme", ["desk"], claims={"region": "north"})
    query = "subscription { occurrenceRecorded { position occurrence { id kind data } } }"
    async with Client(transport=transport(served, reader)) as session:
        updates = session.subscribe(gql(query))
        first = asyncio.ensure_future(anext(updates))
        await until(lambda: served.services.fanout.subscriber_count == 1)
        hidden = []
        for kind, where in (("incident", "south"), ("visit", "north")):
            hidden.append(await command(http, api.token, "record-occurrence", kind=kind,
                                        occurred_at="2026-11-24T10:00:00+00:00",
                                        data={"region": where, "notes": "x"}))  # fmt: skip
        shown = await command(http, api.token, "record-occurrence", kind="incident",
                              occurred_at="2026-11-24T10:00:00+00:00",
                              data={"region": "north", "notes": "secret"})  # fmt: skip
        assert max(h["position"] for h in hidden) < shown["position"]
        # Changes arrive in order: a hidden one pushed would have come first.
        message = (await asyncio.wait_for(first, 30))["occurrenceRecorded"]
        assert message == {
            "position": shown["position"],
            "occurrence": {"id": shown["id"], "kind": "incident", "data": {"region": "north"}},
        }
        await updates.aclose()
    await until(lambda: served.services.fanout.subscriber_count == 0)

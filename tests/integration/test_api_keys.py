"""Service accounts' API keys over HTTP, GraphQL and websockets: the secret is shown once and
stored nowhere, a key does and reads exactly what its roles grant, and a revoked, expired or
wrong key is a 401 from the next request on."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import psycopg
import pytest
import websockets

from eventstore.reading import events_after
from infra.api import create_app
from projections.access.queries import SCHEMA
from tests.integration.test_graphql import GraphQL, serving
from tests.runs import until
from tests.servers import uvicorn_serving

KEYS = """query($revoked: Boolean! = false) { apiKeys(includeRevoked: $revoked) {
    name roles createdBy createdAt expiresAt revokedAt lastUsedAt } }"""


@pytest.fixture
async def graphql(runtime: Any, api: Any, read_side: Any) -> AsyncIterator[GraphQL]:
    async with serving(runtime, api.token) as client:
        yield client


def codes(body: dict[str, Any]) -> dict[str, str]:
    return {e["path"][0]: e["extensions"]["code"] for e in body.get("errors", [])}


async def refused_with(api: Any, key: str, words: str) -> None:
    reply = await api.post("create-group", {"name": "x"}, token=key)
    assert reply.status == 401, reply.body
    assert reply.headers["content-type"] == "application/problem+json"
    assert words in reply.body["detail"]


async def test_the_secret_is_shown_once_and_stored_nowhere(api, graphql, settled, database_url):
    created = await api.command("create-api-key", name="sync", roles=["editor"])
    key = created.body["key"]
    assert key.startswith("bsk_")
    assert set(created.body) == {"id", "version", "position", "key"}
    assert created.headers["cache-control"] == "no-store"
    secret = key.split("_", 2)[2]
    await settled(created.position)

    listed = await graphql.post(KEYS, min_position=created.position)
    assert secret not in listed.text
    assert listed.json()["data"]["apiKeys"] == [
        {
            "name": "sync",
            "roles": ["editor"],
            "createdBy": "tester",
            "createdAt": listed.json()["data"]["apiKeys"][0]["createdAt"],
            "expiresAt": None,
            "revokedAt": None,
            "lastUsedAt": None,
        }
    ]
    assert (await graphql.data(KEYS))["apiKeys"][0]["lastUsedAt"] is None  # kept, if it may be
    # a use moves lastUsedAt, though no event and no read model changed
    assert (await graphql.data("{ access { actor } }", token=key))["access"]["actor"] == "key:sync"
    used = await graphql.data(KEYS)
    assert used["apiKeys"][0]["lastUsedAt"] is not None

    with psycopg.connect(database_url) as conn:
        for row in events_after(conn, 0, 100_000):
            assert secret.encode() not in row[4], row[3]
        stored = conn.execute(f"SELECT t::text FROM {SCHEMA}.api_keys t").fetchall()
    assert len(stored) == 1
    assert secret not in stored[0][0]
    assert "secret_hash" not in stored[0][0]


async def test_a_key_does_and_reads_exactly_what_its_roles_grant(api, graphql, settled):
    sync = (await api.command("create-api-key", name="sync", roles=["editor"])).body["key"]
    report = (await api.command("create-api-key", name="report", roles=["viewer"])).body["key"]

    made = await api.post("create-group", {"name": "Night shift"}, token=sync)
    assert made.status == 200, made.body
    denied = await api.post("create-group", {"name": "Day shift"}, token=report)
    assert denied.status == 403, denied.body
    assert denied.headers["content-type"] == "application/problem+json"
    assert "data:write" in denied.body["detail"]
    await settled(made.position)

    seen = await graphql.data(
        "{ groups { edges { node { name } } } access { actor roles { name sources } } }",
        token=report,
        min_position=made.position,
    )
    assert seen["groups"]["edges"] == [{"node": {"name": "Night shift"}}]
    assert seen["access"] == {
        "actor": "key:report",
        "roles": [{"name": "viewer", "sources": ["token"]}],
    }
    trail = await graphql.data(
        '{ auditLog(filter: {command: "create-group"}) { edges { node { actor } } } }'
    )
    assert trail["auditLog"]["edges"] == [{"node": {"actor": "key:sync"}}]
    # neither the editor's nor the viewer's role reads access: the keys are not theirs to list
    assert codes(await graphql.query("{ apiKeys { name } }", token=sync)) == {
        "apiKeys": "FORBIDDEN"
    }

    used = await graphql.data(KEYS)
    assert {k["name"]: k["lastUsedAt"] is not None for k in used["apiKeys"]} == {
        "report": True,
        "sync": True,
    }


async def test_revoked_expired_and_wrong_keys_are_refused(api, graphql, settled):
    key = (await api.command("create-api-key", name="ci", roles=["admin"])).body["key"]
    opened = await api.command("open-process", token=key, kind="audit", title="A", stages=["a"])
    document = await api.attach("process", opened.id, b"audit notes")
    await settled(document["position"])
    url = f"/v1/documents/{document['id']}"
    downloaded = await api.http.get(url, headers={"Authorization": f"Bearer {key}"})
    assert downloaded.content == b"audit notes"

    await refused_with(api, key[:-3] + "xyz", "no such key, or a wrong secret")
    await refused_with(api, "bsk_" + "0" * 32 + key[36:], "no such key, or a wrong secret")
    await refused_with(api, "bsk_not-a-key", "malformed API key")

    revoked = await api.command("revoke-api-key", name="ci")
    await refused_with(api, key, "API key 'ci' has been revoked")
    refused = await graphql.post("{ groups { edges { cursor } } }", token=key)
    assert refused.status_code == 401, refused.text
    assert "revoked" in refused.text
    refused = await api.http.get(url, headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 401, refused.text
    gone = await api.post("revoke-api-key", {"name": "nope"})
    assert gone.status == 404, gone.body

    await settled(revoked.position)
    listed = await graphql.data(KEYS, {"revoked": True})
    assert [(k["name"], k["revokedAt"] is not None) for k in listed["apiKeys"]] == [("ci", True)]
    assert (await graphql.data(KEYS))["apiKeys"] == []

    brief = await api.command("create-api-key", name="brief", roles=["viewer"], ttl_seconds=1)
    await settled(brief.position)
    listed = await graphql.data(KEYS, min_position=brief.position)
    assert [(k["name"], k["expiresAt"] is not None) for k in listed["apiKeys"]] == [("brief", True)]
    expires_at = datetime.fromisoformat(listed["apiKeys"][0]["expiresAt"]).timestamp()
    await until(lambda: time.time() > expires_at, timeout=10, what="the key's expiry")
    refused = await graphql.post("{ groups { edges { cursor } } }", token=brief.body["key"])
    assert refused.status_code == 401, refused.text
    await refused_with(api, brief.body["key"], "API key 'brief' has expired")


async def test_a_bad_key_request_is_refused_and_stores_nothing(api):
    before = api.event_count()
    for body, path in (
        ({"name": "ci", "roles": ["veiwer"]}, ["roles", 0]),
        ({"name": "ci", "roles": ["viewer"], "expires_at": "2001-01-01T00:00:00Z"}, ["expires_at"]),
        ({"name": "CI", "roles": ["viewer"]}, ["name"]),
    ):
        reply = await api.post("create-api-key", body)
        assert reply.status == 422, reply.body
        assert reply.headers["content-type"] == "application/problem+json"
        assert json.dumps(path) in json.dumps(reply.body), reply.body
    assert (
        "did you mean 'viewer'"
        in (await api.post("create-api-key", {"name": "ci", "roles": ["veiwer"]})).body["detail"]
    )
    editor = await api.post(
        "create-api-key", {"name": "ci", "roles": ["admin"]}, token=api.mint("acme", "editor")
    )
    assert editor.status == 403, editor.body
    assert api.event_count() == before


async def test_another_tenant_can_neither_use_nor_see_a_key(api, graphql, settled):
    acme_key = (await api.command("create-api-key", name="ci", roles=["viewer"])).body["key"]
    platform = api.mint("platform", "platform")
    await api.command("create-tenant", token=platform, slug="beta", name="Beta")
    beta = api.mint("beta", "admin")
    theirs = await api.command("create-group", name="Beta's", token=beta)
    await settled(theirs.position)

    assert (await graphql.data(KEYS, token=beta))["apiKeys"] == []
    assert (await api.post("revoke-api-key", {"name": "ci"}, token=beta)).status == 404
    seen = await graphql.data(
        "{ groups { edges { node { name } } } }", token=acme_key, min_position=theirs.position
    )
    assert seen["groups"]["edges"] == []  # the key acts in its own tenant only
    # the same name in another tenant is another key
    assert (
        await api.post("create-api-key", {"name": "ci", "roles": ["viewer"]}, token=beta)
    ).status == 200


async def test_a_key_opens_a_socket_that_its_revocation_closes(runtime, api, read_side):
    key = (await api.command("create-api-key", name="live", roles=["viewer"])).body["key"]
    with uvicorn_serving(create_app(runtime)) as port:
        socket = await websockets.connect(
            f"ws://127.0.0.1:{port}/graphql", subprotocols=["graphql-transport-ws"]
        )
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}
        await socket.send(json.dumps(init))
        assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "connection_ack"
        await api.command("revoke-api-key", name="live")
        await asyncio.wait_for(socket.wait_closed(), 30)  # bounded: the server must close it
        assert socket.close_code == 4403


async def test_the_reply_with_the_key_is_documented(api):
    spec = (await api.http.get("/openapi.json")).json()
    answered = spec["paths"]["/v1/commands/create-api-key"]["post"]["responses"]["200"]
    ref = answered["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert set(spec["components"]["schemas"][ref]["properties"]) == {
        "id",
        "version",
        "position",
        "key",
    }

"""Read quotas over a real server: a query's cost against the tenant's limit for one query and
its minute's budget (429 with Retry-After), open subscriptions per tenant, and settings that
are checked before they are stored. Another tenant is never slowed by one at its limits."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from domain.tenant import Tenant
from tests.e2e.conftest import Served
from tests.e2e.test_graphql_subscriptions import ENTITY_CHANGED, connected, until

PAGE = "query Q{n} {{ entities(first: {first}) {{ edges {{ node {{ id title }} }} }} }}"
"""Costs 1 + first x 4. The operation name keeps each body apart: kept answers are free."""


async def tenant(api: Any, slug: str, **settings: int) -> str:
    """A tenant with these settings; its reader's token."""
    platform = api.mint("platform", "platform")
    await api.command("create-tenant", token=platform, slug=slug, name=slug, settings=settings)
    return str(api.mint(slug, "viewer"))


async def ask(http: httpx.AsyncClient, token: str, query: str) -> httpx.Response:
    return await http.post(
        "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
    )


async def test_a_query_over_the_cost_limit_is_refused_with_its_cost(http, api):
    token = await tenant(api, "frugal", graphql_cost_per_request=100)
    refused = await ask(http, token, PAGE.format(n=1, first=50))
    assert refused.status_code == 400
    body = refused.json()
    assert body.get("data") is None  # nothing ran
    [error] = body["errors"]
    assert error["extensions"] == {"code": "COST_LIMIT", "cost": 201, "limit": 100}
    assert "costs 201; the limit is 100" in error["message"]
    allowed = await ask(http, token, PAGE.format(n=2, first=20))  # costs 81
    assert allowed.status_code == 200, allowed.text
    assert allowed.json() == {"data": {"entities": {"edges": []}}}
    # the default limit leaves room for the largest page of every field
    assert (await ask(http, api.token, PAGE.format(n=3, first=200))).status_code == 200


async def test_the_minute_budget_answers_429_with_retry_after_and_spares_others(http, api):
    token = await tenant(api, "hasty", graphql_cost_per_request=100, graphql_cost_per_minute=100)
    answers = [await ask(http, token, PAGE.format(n=n, first=5)) for n in range(8)]  # 21 each
    statuses = [a.status_code for a in answers]
    assert statuses[:4] == [200] * 4, statuses  # 84 of the minute's 100
    refused = next(a for a in answers if a.status_code == 429)
    assert int(refused.headers["retry-after"]) >= 1
    [error] = refused.json()["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["retryAfter"] == int(refused.headers["retry-after"])
    assert "100 a minute" in error["message"]
    # another tenant asks the same, unaffected
    other = await ask(http, api.token, PAGE.format(n=0, first=5))
    assert other.status_code == 200, other.text


async def subscribe(socket: Any, operation: str, query: str = ENTITY_CHANGED) -> None:
    message = {"id": operation, "type": "subscribe", "payload": {"query": query}}
    await socket.send(json.dumps(message))


async def test_subscriptions_beyond_the_tenants_limit_are_refused_until_one_closes(
    served: Served, api: Any
) -> None:
    token = await tenant(api, "watchful", subscriptions=2)
    tenant_id = Tenant.create_id("watchful")
    quotas = served.services.api.quotas
    one, two = await connected(served, token), await connected(served, token)
    acme = await connected(served, api.token)
    try:
        await subscribe(one, "a")
        await subscribe(two, "b")  # two sockets, one count
        await until(lambda: quotas.open_subscriptions(tenant_id) == 2)
        await subscribe(two, "c")
        refused = json.loads(await asyncio.wait_for(two.recv(), 10))
        assert refused["id"] == "c"
        assert refused["type"] == "error"
        assert refused["payload"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert "already has 2 subscriptions open" in refused["payload"][0]["message"]
        assert quotas.open_subscriptions(tenant_id) == 2

        await subscribe(acme, "x")  # another tenant is not counted against this one
        await until(lambda: quotas.open_subscriptions(Tenant.create_id("acme")) == 1)

        await one.send(json.dumps({"id": "a", "type": "complete"}))
        await until(lambda: quotas.open_subscriptions(tenant_id) == 1)
        await subscribe(two, "d")
        await until(lambda: quotas.open_subscriptions(tenant_id) == 2)
    finally:
        for socket in (one, two, acme):
            await socket.close()
    await until(lambda: quotas.open_subscriptions(tenant_id) == 0)


async def test_bad_quota_settings_are_refused_with_their_path_and_nothing_stored(api):
    platform = api.mint("platform", "platform")
    before = api.event_count()
    for settings, key in [
        ({"graphql_cost_per_request": 0}, "graphql_cost_per_request"),
        (
            {"graphql_cost_per_request": 500, "graphql_cost_per_minute": 100},
            "graphql_cost_per_minute",
        ),
        ({"subscriptions": "many"}, "subscriptions"),
    ]:
        reply = await api.post(
            "create-tenant", {"slug": "badly", "name": "B", "settings": settings}, token=platform
        )
        assert reply.status == 422, reply.body
        assert reply.body["errors"][0]["path"] == ["settings", key], reply.body
    changed = await api.post(
        "change-tenant-settings", {"settings": {"subscriptions": 0}}, token=api.token
    )
    assert changed.status == 422, changed.body
    assert changed.body["errors"][0]["path"] == ["settings", "subscriptions"]
    assert api.event_count() == before


async def test_a_subscription_over_the_cost_limit_is_refused_on_subscribe(
    served: Served, api: Any
) -> None:
    token = await tenant(api, "stingy", graphql_cost_per_request=5)
    socket = await connected(served, token)
    try:
        await subscribe(socket, "1")  # entityChanged with an entity and its type: costs 9
        refused = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert refused["id"] == "1"
        assert refused["type"] == "next"
        assert refused["payload"]["data"] is None
        [error] = refused["payload"]["errors"]
        assert error["extensions"] == {"code": "COST_LIMIT", "cost": 9, "limit": 5}
        ended = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert ended == {"id": "1", "type": "complete"}
        await subscribe(socket, "2", "subscription { entityChanged { position } }")  # costs 2
        await until(lambda: served.services.fanout.subscriber_count == 1)
    finally:
        await socket.close()

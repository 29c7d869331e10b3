"""Read-your-writes waits (`X-Min-Position`, `atLeast`) as a crowd of clients sees them.

A waiting request holds no reader connection, so waits of one tenant never delay another
tenant's reads; a request waits once however its waits are nested; a tenant has a bounded
number of waits in progress, and one more is refused with a code rather than queued.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.conftest import graphql_settings
from tests.integration.test_graphql import GraphQL, serving

UNREACHABLE = 2_000_000_000
"""A position no test's event store reaches: its waits last until their timeout."""
COUNT_AND_WAIT = (
    f"{{ counts {{ entities }} atLeast(position: {UNREACHABLE}, timeoutMs: 20000) "
    "{ __typename } }"
)
WAIT = f"{{ atLeast(position: {UNREACHABLE}, timeoutMs: 20000) {{ __typename }} }}"
COUNT = "{ counts { entities } }"


@pytest.fixture
async def graphql(runtime: Any, api: Any) -> AsyncIterator[GraphQL]:
    async with serving(runtime, api.token) as client:
        yield client


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait for server-side state (how many requests are waiting), polled and bounded."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def viewer_of_another_tenant(api: Any) -> str:
    platform = api.mint("platform", "platform")
    await api.command("create-tenant", token=platform, slug="beta", name="Beta")
    return str(api.mint("beta", "viewer"))


def waiting(graphql: GraphQL) -> int:
    return int(graphql.services.api.watermark.waiting)


async def abandon(tasks: list[asyncio.Future[Any]]) -> None:
    """The clients give up: their requests are cancelled, as a dropped connection would be."""
    for task in tasks:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_waiting_reads_hold_no_reader_connection(api, runtime, read_side):
    beta = await viewer_of_another_tenant(api)
    settings = graphql_settings(pool_min=1, pool_max=2, max_waits_per_tenant=8)
    async with serving(runtime, api.token, settings) as graphql:
        assert await graphql.data(COUNT) == {"counts": {"entities": 0}}
        waits = [asyncio.ensure_future(graphql.query(COUNT_AND_WAIT)) for _ in range(6)]
        waits += [
            asyncio.ensure_future(graphql.query(COUNT, min_position=UNREACHABLE)) for _ in range(2)
        ]
        await until(lambda: waiting(graphql) == 8)  # four times the pool, all waiting

        assert await graphql.data(COUNT, token=beta) == {"counts": {"entities": 0}}
        assert not any(wait.done() for wait in waits)  # B was answered while A still waits
        await abandon(waits)
        await until(lambda: waiting(graphql) == 0)


async def test_waits_are_capped_per_tenant_and_refused_with_a_code(api, runtime, read_side):
    beta = await viewer_of_another_tenant(api)
    async with serving(runtime, api.token, graphql_settings(max_waits_per_tenant=2)) as graphql:
        waits = [asyncio.ensure_future(graphql.query(WAIT)) for _ in range(2)]
        await until(lambda: waiting(graphql) == 2)

        refused = await graphql.query(WAIT)
        assert refused["data"] is None
        error = refused["errors"][0]
        assert error["path"] == ["atLeast"]
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert "2 read-your-writes waits" in error["message"]

        by_header = await graphql.post(COUNT, min_position=UNREACHABLE)
        assert by_header.status_code == 429
        assert by_header.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"

        waits.append(asyncio.ensure_future(graphql.query(WAIT, token=beta)))
        await until(lambda: waiting(graphql) == 3)  # another tenant still may wait
        assert not any(wait.done() for wait in waits)
        await abandon(waits)
        await until(lambda: waiting(graphql) == 0)

        fine = await graphql.query("{ atLeast(position: 0) { counts { entities } } }")
        assert fine["data"] == {"atLeast": {"counts": {"entities": 0}}}  # the slots are free


async def test_nested_waits_are_one_wait_within_the_request_timeout(api, runtime, read_side):
    settings = graphql_settings(max_waits_per_tenant=1, max_timeout=1.5)
    nested = "{ counts { entities } }"
    for _ in range(3):
        nested = f"{{ atLeast(position: {UNREACHABLE}, timeoutMs: 10000) {nested} }}"
    async with serving(runtime, api.token, settings) as graphql:
        loop = asyncio.get_running_loop()
        started = loop.time()
        body = await graphql.query(nested)
        elapsed = loop.time() - started
    assert "errors" not in body, body["errors"]  # counted once: the cap of 1 admits it
    inner = body["data"]["atLeast"]["atLeast"]["atLeast"]
    assert inner == {"counts": {"entities": 0}}
    assert body["extensions"]["freshness"]["timedOut"] is True
    assert elapsed < 3.0  # one wait of at most 1.5 s, not three


async def test_a_malformed_min_position_is_the_clients_mistake(api, graphql, read_side):
    for raw in ("18446744073709551616", "9223372036854775808", "-1", "abc", "1.5", " "):
        response = await graphql.post(COUNT, min_position=raw)
        assert response.status_code == 400, (raw, response.text)
        error = response.json()["errors"][0]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", raw
        assert "X-Min-Position" in error["message"]
    reached = await graphql.query(COUNT, min_position=0)
    assert reached["extensions"]["freshness"]["timedOut"] is False

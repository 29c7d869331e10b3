"""Waiting for automation's effects: runs through GraphQL as a client reads them, the reactor
by its position, and outside servers by polling what they received (with a deadline)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from infra.automation import AutomationSide
from tests.conftest import Api

RUNS = """query Runs($pa: UUID) { actionRuns(filter: {processActionId: $pa}) { edges { node {
  id status attempts lastError providerMessageId plannedAt
  attemptHistory { attempt outcome error } } } } }"""


async def until(check: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    """`check()` (or what it awaits to) again until it is truthy; its value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def reactor_reached(side: AutomationSide, position: int) -> None:
    assert side.reactor_worker is not None
    worker = side.reactor_worker
    await until(lambda: worker.position >= position, what=f"reactor at {position}")


async def graphql(api: Api, query: str, **variables: Any) -> Any:
    response = await api.http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {api.token}"},
    )
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def runs_of(api: Api, process_action_id: str) -> list[dict[str, Any]]:
    data = await graphql(api, RUNS, pa=process_action_id)
    return [edge["node"] for edge in data["actionRuns"]["edges"]]


async def run_settles(
    api: Api, process_action_id: str, status: str, count: int = 1, timeout: float = 60.0
) -> list[Any]:
    async def check() -> list[Any] | None:
        runs = await runs_of(api, process_action_id)
        done = [r for r in runs if r["status"] == status.upper()]
        return runs if len(done) >= count else None

    deadline = asyncio.get_running_loop().time() + timeout
    while (found := await check()) is None:
        assert asyncio.get_running_loop().time() < deadline, await runs_of(api, process_action_id)
        await asyncio.sleep(0.1)
    return found

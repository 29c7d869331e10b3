"""Meilisearch-like matching through GraphQL: most words, the last word as a prefix, typo
budgets by word length (a swap is one typo), and the tenant's typo settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.integration.test_graphql import GraphQL, serving

SEARCH = "query($q: String!) { search(query: $q) { edges { node { title rank } } } }"
SITES = ["Sant Pau Clinic", "Jerusalem depot", "Jerusalem market", "Lisbon clinic",
         "Plumbing workshop", "Harbour office", "Grand Central"]  # fmt: skip


@pytest.fixture
async def graphql(runtime: Any, api: Any) -> AsyncIterator[GraphQL]:
    async with serving(runtime, api.token) as client:
        yield client


async def sites(api: Any) -> int:
    type_id = (
        await api.command(
            "define-entity-type",
            name="Site",
            fields=[{"name": "name", "type": "text", "searchable": "A"}],
        )
    ).id
    last = 0
    for name in SITES:
        last = (
            await api.command("create-entity", entity_type_id=type_id, data={"name": name})
        ).position
    return last


async def titles(graphql: GraphQL, query: str, position: int = 0) -> list[str]:
    found = await graphql.data(SEARCH, {"q": query}, min_position=position)
    return [edge["node"]["title"] for edge in found["search"]["edges"]]


async def test_most_words_prefix_and_typo_budgets(api, graphql, read_side):
    position = await sites(api)
    # "snt" (3 letters) matches nothing: the records matching the most words come first
    assert (await titles(graphql, "snt pau clinic", position))[:2] == [
        "Sant Pau Clinic", "Lisbon clinic",
    ]  # fmt: skip
    # the last word is a prefix while it is being typed, not once a space follows it
    assert await titles(graphql, "jerusalem dep") == ["Jerusalem depot"]
    assert await titles(graphql, "jerusalem mar") == ["Jerusalem market"]
    assert sorted(await titles(graphql, "jerusalem dep ")) == [
        "Jerusalem depot",
        "Jerusalem market",
    ]
    # a swap of two letters is one typo: five letters and more get one
    assert await titles(graphql, "plubming") == ["Plumbing workshop"]
    assert await titles(graphql, "hrabour") == ["Harbour office"]
    assert sorted(await titles(graphql, "clnic")) == ["Lisbon clinic", "Sant Pau Clinic"]
    assert await titles(graphql, "pua") == []  # under five letters: no typo
    # two typos from nine letters, not below
    assert await titles(graphql, "jrusalme depot") == ["Jerusalem depot"]
    assert await titles(graphql, "plmbnig") == []  # 7 letters, 2 typos
    # unrelated words find nothing
    assert await titles(graphql, "xylophone") == []


async def test_typo_settings_are_the_tenants(api, graphql, read_side):
    position = await sites(api)
    assert await titles(graphql, "hrabour", position) == ["Harbour office"]
    strict = await api.command(
        "change-tenant-settings",
        settings={"min_word_size_for_one_typo": 8, "min_word_size_for_two_typos": 12},
    )
    assert await titles(graphql, "hrabour", strict.position) == []  # 7 letters < 8
    assert await titles(graphql, "plubming") == ["Plumbing workshop"]  # 8 letters
    off = await api.command("change-tenant-settings", settings={"typo_tolerance": False})
    assert await titles(graphql, "plubming", off.position) == []
    assert await titles(graphql, "plumbing") == ["Plumbing workshop"]
    assert await titles(graphql, "jerusalem dep") == ["Jerusalem depot"]  # prefixes still
    generous = await api.command(
        "change-tenant-settings",
        settings={"typo_tolerance": True, "min_word_size_for_one_typo": 3,
                  "min_word_size_for_two_typos": 7},
    )  # fmt: skip
    assert await titles(graphql, "pua", generous.position) == ["Sant Pau Clinic"]
    assert await titles(graphql, "plmbnig") == ["Plumbing workshop"]


@pytest.mark.parametrize(
    ("settings", "path"),
    [
        ({"typo_tolerance": "yes"}, "typo_tolerance"),
        ({"min_word_size_for_one_typo": 2}, "min_word_size_for_one_typo"),
        ({"min_word_size_for_two_typos": 6}, "min_word_size_for_two_typos"),
        ({"min_word_size_for_one_typo": 10, "min_word_size_for_two_typos": 9},
         "min_word_size_for_one_typo"),
    ],
)  # fmt: skip
async def test_typo_settings_are_validated(api, settings, path):
    refused = await api.post("change-tenant-settings", {"settings": settings})
    assert refused.status == 422, refused.body
    assert [e["path"] for e in refused.body["errors"]] == [["settings", path]]

"""A query's cost, from the schema users query: fields, page sizes (given, variable, default,
capped), lists inside a page, unpaged lists, fragments, introspection."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry
from graphql import parse

from read_api.cost import CostRules, query_cost
from read_api.schema import Query
from read_api.subscriptions import Subscription

SCHEMA = strawberry.Schema(query=Query, subscription=Subscription)._schema
RULES = CostRules(max_page=200, unpaged_list=10)


def cost(query: str, variables: dict[str, Any] | None = None, name: str | None = None) -> int:
    return query_cost(SCHEMA, parse(query), name, variables, RULES)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # entities 1 + 5 x (edges 1 + (node 1 + id 1 + title 1))
        ("{ entities(first: 5) { edges { node { id title } } } }", 1 + 5 * 4),
        # absent `first`: the field's default page (50); pageInfo is not multiplied again
        ("{ entities { pageInfo { hasNextPage } } }", 1 + 50 * 2),
        # beyond the largest page: counted as the largest page (the resolver refuses it anyway)
        ("{ entities(first: 5000) { edges { cursor } } }", 1 + 200 * 2),
        # a list without a page size inside a page: 10 items each
        ("{ entities(first: 2) { edges { node { groups { id } } } } }", 1 + 2 * (1 + 1 + 11)),
        # geo's `hits` are its page: multiplied once, by `first`
        ("{ nearby(lat: 0, lon: 0, first: 3) { hits { id } } }", 1 + 3 * 2),
        # two roots add up; a scalar list is one field
        ("{ entityTypes { name } counts { entities } }", (1 + 10 * 1) + (1 + 1)),
    ],
)
def test_fields_are_multiplied_by_the_page_they_are_in(query: str, expected: int) -> None:
    assert cost(query) == expected


def test_page_sizes_come_from_variables_and_their_defaults() -> None:
    query = "query($n: Int! = 7) { entities(first: $n) { edges { cursor } } }"
    assert cost(query, {"n": 3}) == 1 + 3 * 2
    assert cost(query, {}) == 1 + 7 * 2


def test_fragments_count_where_they_are_spread_and_each_operation_alone() -> None:
    query = """
        query Big { entities(first: 10) { edges { node { ...Site } } } }
        query Small { entities(first: 1) { edges { node { ...Site } } } }
        fragment Site on Entity { id ... on Entity { title } }
    """
    assert cost(query, name="Big") == 1 + 10 * (1 + 3)
    assert cost(query, name="Small") == 1 + 1 * (1 + 3)
    cyclic = "{ entities { edges { node { ...A } } } } fragment A on Entity { id ...A }"
    assert cost(cyclic) == 1 + 50 * (1 + 2)  # validation refuses it; counting must still end


def test_introspection_is_cheap() -> None:
    assert cost("{ __schema { types { name fields { name args { name } } } } }") == 1
    assert cost("{ __typename }") == 1

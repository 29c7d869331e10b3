"""Every GraphQL error tells the client whose mistake it was (`extensions.code`), and reveals
nothing of the schema that introspection would not; oversized documents are refused before
they are parsed; subscriptions over HTTP are pointed at the websocket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from projections.paging import encode_cursor
from tests.conftest import graphql_settings
from tests.integration.test_graphql import GraphQL, serving

EDGES = "{ edges { cursor } }"


@pytest.fixture
async def graphql(runtime: Any, api: Any) -> AsyncIterator[GraphQL]:
    async with serving(runtime, api.token) as client:
        yield client


async def test_every_error_carries_a_code(api, graphql, read_side):
    cases: list[tuple[str, dict[str, Any], str, list[str] | None]] = [
        ('{ entities(after: "@@@") ' + EDGES + " }", {}, "BAD_USER_INPUT", ["entities"]),
        ('{ search(query: "x", after: "@@@") ' + EDGES + " }", {}, "BAD_USER_INPUT", ["search"]),
        ("{ entities(first: 500) " + EDGES + " }", {}, "BAD_USER_INPUT", ["entities"]),
        (
            "query($f: Int!) { entities(first: $f) " + EDGES + " }",
            {"f": "x"},
            "BAD_USER_INPUT",
            None,
        ),
        ("{ entities " + EDGES, {}, "GRAPHQL_PARSE_FAILED", None),
        ("{ counts { " + "entities " * 2_100 + "} }", {}, "GRAPHQL_PARSE_FAILED", None),
        ("{ entitiez " + EDGES + " }", {}, "GRAPHQL_VALIDATION_FAILED", None),
        ("{ atLeast(position: -1) { __typename } }", {}, "BAD_USER_INPUT", ["atLeast"]),
    ]
    for query, variables, code, path in cases:
        body = await graphql.query(query, variables)
        error = body["errors"][0]
        assert error["extensions"]["code"] == code, (query[:60], error)
        if path is not None:
            assert error["path"] == path, (query[:60], error)

    cursor = await graphql.query('{ entities(after: "@@@") ' + EDGES + " }")
    assert cursor["errors"][0]["message"] == "not a cursor from this API"

    query = "query($after: String) { entities(after: $after) { edges { cursor } } }"
    # Well-formed, but not what this list's cursors hold: still the client's mistake.
    for wrong in ([1], [1, "not-a-uuid"], ["x", "00000000-0000-0000-0000-000000000000"]):
        broken = await graphql.query(query, {"after": encode_cursor(wrong)})
        assert broken["errors"][0] == {
            "message": "not a cursor from this API",
            "locations": broken["errors"][0]["locations"],
            "path": ["entities"],
            "extensions": {"code": "BAD_USER_INPUT"},
        }, wrong


async def test_transport_mistakes_are_answered_as_graphql_errors(api, graphql, read_side):
    headers = {"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"}
    not_json = await graphql.http.post("/graphql", content=b"{", headers=headers)
    no_query = await graphql.http.post("/graphql", content=b'{"variables": {}}', headers=headers)
    for response in (not_json, no_query):
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_subscriptions_over_http_are_sent_to_the_websocket(api, graphql, read_side):
    query = "subscription { entityChanged { position } }"
    headers = {"Authorization": f"Bearer {api.token}"}
    over_get = await graphql.http.get("/graphql", params={"query": query}, headers=headers)
    over_post = await graphql.post(query)
    for response in (over_get, over_post):
        assert response.status_code == 400, response.text
        error = response.json()["errors"][0]
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert "WebSocket" in error["message"]
        assert "graphql-transport-ws" in error["message"]


async def test_oversized_documents_are_refused_before_parsing(api, graphql, read_side):
    comment_only = "#" + "x" * 100_000 + "\n{ counts { entities } }"
    refused = await graphql.post(comment_only)
    assert refused.status_code == 413
    error = refused.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "65536" in error["message"]
    fine = await graphql.query("#" + "x" * 60_000 + "\n{ counts { entities } }")
    assert fine["data"] == {"counts": {"entities": 0}}


async def test_the_document_limit_is_a_setting_and_holds_for_get(api, runtime, read_side):
    query = "#" + "é" * 600 + "\n{ counts { entities } }"  # 600 characters, 1,200 bytes
    headers = {"Authorization": f"Bearer {api.token}"}
    async with serving(runtime, api.token, graphql_settings(max_document_bytes=1024)) as graphql:
        over_get = await graphql.http.get("/graphql", params={"query": query}, headers=headers)
        under = await graphql.query("#" + "x" * 900 + "\n{ counts { entities } }")
    assert over_get.status_code == 413
    assert over_get.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert under["data"] == {"counts": {"entities": 0}}


TYPOS: list[tuple[str, dict[str, Any]]] = [
    ("{ entitiez " + EDGES + " }", {}),  # a field
    ("{ entities(firstt: 1) " + EDGES + " }", {}),  # an argument
    ("query($f: EntityFilterr) { entities(filter: $f) " + EDGES + " }", {}),  # a type
    ("{ entities(order: NEWESTT) " + EDGES + " }", {}),  # an enum value
    ("query($o: EntityOrder!) { entities(order: $o) " + EDGES + " }", {"o": "NEWESTT"}),
    ('{ entities(filter: {entityTypeIdd: "x"}) ' + EDGES + " }", {}),  # an input field
]


async def test_no_suggestions_when_introspection_is_off(api, runtime, read_side):
    async with serving(runtime, api.token, graphql_settings(introspection=False)) as graphql:
        for query, variables in TYPOS:
            error = (await graphql.query(query, variables))["errors"][0]
            assert "Did you mean" not in error["message"], error
            assert error["extensions"]["code"] in ("GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT")


async def test_suggestions_help_in_development(api, graphql, read_side):
    for query, variables in TYPOS:
        error = (await graphql.query(query, variables))["errors"][0]
        assert "Did you mean" in error["message"], error
    field = (await graphql.query(TYPOS[0][0]))["errors"][0]["message"]
    assert field == (
        "Cannot query field 'entitiez' on type 'Query'. Did you mean 'entities' or 'entity'?"
    )


async def test_text_no_record_holds_is_the_clients_mistake(api, graphql, read_side):
    """NUL in a literal or a variable is refused before anything is read (PostgreSQL would
    refuse it mid-query: that was an internal error). A lone surrogate does not get this far:
    it is not JSON text (400, BAD_REQUEST)."""
    literal = await graphql.query('{ access(actor: "a\\u0000b") { reads } }')
    [error] = literal["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "NUL" in error["message"]
    assert error["locations"]
    query = "query($q: String!) { search(query: $q) { edges { cursor } } }"
    variable = await graphql.query(query, {"q": "x\u0000"})
    [error] = variable["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["message"].startswith("variables.q")
    assert "NUL" in error["message"]

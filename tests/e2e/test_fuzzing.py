"""Fuzzing from the published schemas (schemathesis): whatever a client sends to any command
route or GraphQL field, valid or not, the answer is never a server error.

Generation is derandomized so CI is repeatable; `BSDFLOW_FUZZ_EXAMPLES` runs more (a bench run).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import graphql
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.graphql import nodes

from infra.api import create_app
from infra.runtime import Runtime
from tests.conftest import graphql_settings
from tests.servers import uvicorn_serving

EXAMPLES = int(os.environ.get("BSDFLOW_FUZZ_EXAMPLES", "300"))
pytestmark = pytest.mark.timeout(max(120, EXAMPLES // 5))  # a bench run asks for many more


def _field(name: str, value: graphql.ValueNode) -> graphql.ObjectFieldNode:
    return graphql.ObjectFieldNode(name=graphql.NameNode(value=name), value=value)


def _json_literals() -> st.SearchStrategy[graphql.ValueNode]:
    """Any JSON value written inline, for arguments of the `JSON` scalar (rules, filters)."""
    leaves = st.one_of(
        st.text(max_size=20).map(nodes.String),
        st.integers().map(nodes.Int),
        st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float),
        st.booleans().map(nodes.Boolean),
        st.just(nodes.Null),
    )
    field_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)

    def nested(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        fields = st.lists(
            st.builds(_field, field_names, inner),
            max_size=4,
            unique_by=lambda field: field.name.value,
        )
        return st.one_of(st.lists(inner, max_size=4).map(nodes.List), fields.map(nodes.Object))

    return st.recursive(leaves, nested, max_leaves=12)


schemathesis.graphql.scalar("JSON", _json_literals())


@pytest.fixture
def base_url(runtime: Runtime, read_side: Any, automation: Any, api: Any) -> Iterator[str]:
    """The whole system, served for real; reads wait at most a second for a position (the
    fuzzer asks for far-off positions, and a wait that ends is not what is tested here)."""
    app = create_app(runtime, graphql_settings(timeout=0.2, max_timeout=1.0))
    with uvicorn_serving(app) as port:
        yield f"http://127.0.0.1:{port}"


def fuzz(
    schema: schemathesis.BaseSchema,
    modes: list[GenerationMode],
    headers: dict[str, str],
    base_url: str | None = None,
) -> None:
    strategy = st.one_of([schema.as_strategy(mode) for mode in modes])

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def never_a_server_error(case: Any) -> None:
        case.call_and_validate(base_url=base_url, headers=headers, checks=[not_a_server_error])

    never_a_server_error()


def test_no_command_input_is_a_server_error(base_url: str, api: Any) -> None:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    fuzz(schema, modes, {"Authorization": f"Bearer {api.token}"}, base_url=base_url)


def test_no_graphql_query_is_a_server_error(base_url: str, api: Any) -> None:
    auth = {"Authorization": f"Bearer {api.token}"}
    schema = schemathesis.graphql.from_url(f"{base_url}/graphql", headers=auth)
    fuzz(schema, [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], auth)

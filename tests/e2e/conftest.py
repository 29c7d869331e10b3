"""The e2e fixtures: the app under a real uvicorn server, and an HTTP client of it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from infra.api import create_app
from infra.graphql import GraphQLServices, graphql_services
from infra.runtime import Runtime
from tests.servers import uvicorn_serving


@dataclass
class Served:
    base_url: str
    ws_url: str
    services: GraphQLServices


@pytest.fixture
def served(runtime: Runtime, read_side: Any) -> Iterator[Served]:
    """The app under uvicorn in a thread of its own (own event loop), on a free port."""
    app = create_app(runtime)
    with uvicorn_serving(app) as port:
        yield Served(
            f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/graphql", graphql_services(app)
        )


@pytest.fixture
async def http(served: Served, api: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served.base_url, timeout=30) as client:
        yield client

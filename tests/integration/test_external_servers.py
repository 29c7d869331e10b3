"""The same code on the machine's own PostgreSQL 15 and Redis 7 (when they are reachable).

Only the URLs differ from the embedded stack; Kafka stays embedded (the machine has no broker).
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import psycopg
import pytest

from infra.api import create_app
from infra.embedded import ServerUrls
from infra.runtime import build_runtime
from tests.conftest import Api, settings_for

PG = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379/0"


def reachable(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
    except OSError:
        return False
    return True


pytestmark = pytest.mark.skipif(
    not (reachable(5432) and reachable(6379)), reason="no local PostgreSQL/Redis on this machine"
)


@pytest.fixture
def external_database() -> Iterator[str]:
    name = f"bsdflow_ext_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield PG.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def external_api(stack: ServerUrls, external_database: str, tmp_path) -> AsyncIterator[Api]:
    urls = ServerUrls(external_database, stack.kafka_bootstrap_servers, REDIS)
    runtime = build_runtime(settings_for(urls, tmp_path), urls)
    transport = httpx.ASGITransport(app=create_app(runtime))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://ext.test") as http:
            client = Api(http, runtime)
            slug = f"ext-{uuid.uuid4().hex[:8]}"
            await client.command(
                "create-tenant", token=client.mint("p", "platform"), slug=slug, name="Ext"
            )
            client.token = client.mint(slug, "admin")
            yield client
    finally:
        runtime.close()


async def test_commands_on_postgres_15_and_redis_7(external_api: Api) -> None:
    with psycopg.connect(external_api.runtime.urls.database_url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    assert int(version.split(".")[0]) >= 15
    car = await external_api.command(
        "define-entity-type", name="Car", fields=[{"name": "plate", "type": "text", "unique": True}]
    )
    first = await external_api.post(
        "create-entity",
        {"entity_type_id": car.id, "data": {"plate": "EXT-1"}},
        headers={"Idempotency-Key": "k1"},
    )
    replay = await external_api.post(
        "create-entity",
        {"entity_type_id": car.id, "data": {"plate": "EXT-1"}},
        headers={"Idempotency-Key": "k1"},
    )
    duplicate = await external_api.post(
        "create-entity", {"entity_type_id": car.id, "data": {"plate": "ext-1"}}
    )
    assert (first.status, replay.body, duplicate.status) == (200, first.body, 409)
    assert (await external_api.http.get("/ready")).status_code == 200

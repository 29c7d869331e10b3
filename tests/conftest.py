"""Shared fixtures: one embedded stack per session, a fresh database and Redis per test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import psycopg
import pytest
import redis

from automation.scheduler import SchedulerConfig
from eventstore.postgres import PostgresEventStore
from infra.api import create_app
from infra.automation import AutomationSide
from infra.embedded import EmbeddedStack, ServerUrls, with_database
from infra.readdb import migrate_read_side
from infra.readside import ReadSide
from infra.runtime import Runtime, build_runtime
from infra.settings import GraphQLSettings, OutboundSettings, Settings
from tests.servers import Mailbox, Recorder, http_recorder, smtp_mailbox

# Read-your-writes waits in tests are bounded conditions, not sleeps: on a machine busy with
# other work the read side may need far longer than the 5 s a client waits by default.
PATIENT_READS = {"timeout": 60.0, "max_timeout": 90.0}


def graphql_settings(**overrides: Any) -> GraphQLSettings:
    """The read API's settings for a test: patient waits, and what the test changes."""
    return GraphQLSettings(**(PATIENT_READS | overrides))


TEMPLATE_DB = "bsdflow_template"
JWT_SECRET = "test-secret-that-is-long-enough-for-hs256"


@pytest.fixture(scope="session")
def embedded_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    embedded = EmbeddedStack(tmp_path_factory.mktemp("stack"))
    embedded.start()
    yield embedded
    embedded.stop()


@pytest.fixture(scope="session")
def stack(embedded_stack: EmbeddedStack) -> ServerUrls:
    urls = embedded_stack.urls
    with psycopg.connect(urls.database_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}"')
        conn.execute(f'CREATE DATABASE "{TEMPLATE_DB}"')
    PostgresEventStore(with_database(urls.database_url, TEMPLATE_DB), 1, 0).close()
    migrate_read_side(with_database(urls.database_url, TEMPLATE_DB))
    return urls


@pytest.fixture
def database_url(stack: ServerUrls) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"')
    return with_database(stack.database_url, name)


def settings_for(urls: ServerUrls, data_dir: Path, **overrides: Any) -> Settings:
    return Settings(
        database_url=urls.database_url,
        kafka_bootstrap_servers=urls.kafka_bootstrap_servers,
        redis_url=urls.redis_url,
        jwt_secret=JWT_SECRET,
        data_dir=data_dir,
        db_pool_size=4,
        db_pool_overflow=30,
        max_document_bytes=1_048_576,
        events_topic=events_topic_for(urls.database_url),
        outbound=OutboundSettings(allow="127.0.0.0/8,::1/128"),
        graphql=graphql_settings(),
        secret_key="test-credentials-master-key",
        **overrides,
    )


@pytest.fixture
def runtime(stack: ServerUrls, database_url: str, tmp_path: Path) -> Iterator[Runtime]:
    redis.Redis.from_url(stack.redis_url).flushdb()
    urls = ServerUrls(database_url, stack.kafka_bootstrap_servers, stack.redis_url)
    built = build_runtime(settings_for(urls, tmp_path), urls)
    yield built
    built.close()


@dataclass
class Reply:
    status: int
    body: Any
    headers: httpx.Headers

    @property
    def id(self) -> str:
        return str(self.body["id"])

    @property
    def position(self) -> int:
        return int(self.body["position"])


class Api:
    """A client of the command API that speaks as one principal unless told otherwise."""

    def __init__(self, http: httpx.AsyncClient, runtime: Runtime) -> None:
        self.http = http
        self.runtime = runtime
        self.token = ""

    def mint(self, tenant: str, *roles: str, actor: str = "tester") -> str:
        return self.runtime.tokens.mint(tenant, list(roles), actor=actor)

    async def post(
        self, name: str, body: Any, token: str | None = None, headers: dict[str, str] | None = None
    ) -> Reply:
        all_headers = {"Authorization": f"Bearer {token or self.token}", **(headers or {})}
        content = body if isinstance(body, bytes) else None
        json_body = None if isinstance(body, bytes) else body
        if content is not None:
            all_headers.setdefault("Content-Type", "application/json")
        response = await self.http.post(
            f"/v1/commands/{name}", json=json_body, content=content, headers=all_headers
        )
        parsed = response.json() if response.content else None
        return Reply(response.status_code, parsed, response.headers)

    async def command(self, command: str, /, token: str | None = None, **body: Any) -> Reply:
        reply = await self.post(command, body, token)
        assert reply.status == 200, (command, reply.status, reply.body)
        return reply

    async def upload(
        self,
        target_kind: str,
        target_id: str,
        content: bytes,
        *,
        title: str | None = None,
        filename: str = "notes.txt",
        content_type: str = "text/plain",
    ) -> httpx.Response:
        """`attach-document`, the one command sent as multipart rather than JSON."""
        form = {"target_kind": target_kind, "target_id": target_id}
        return await self.http.post(
            "/v1/commands/attach-document",
            headers={"Authorization": f"Bearer {self.token}"},
            data=form | ({"title": title} if title else {}),
            files={"file": (filename, content, content_type)},
        )

    async def attach(
        self, target_kind: str, target_id: str, content: bytes, title: str | None = None
    ) -> Any:
        response = await self.upload(target_kind, target_id, content, title=title)
        assert response.status_code == 200, response.text
        return response.json()

    def event_count(self) -> int:
        return self.runtime.store.count()


@pytest.fixture
async def api(runtime: Runtime) -> AsyncIterator[Api]:
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://bsdflow.test") as http:
        client = Api(http, runtime)
        platform = client.mint("platform", "platform")
        await client.command("create-tenant", token=platform, slug="acme", name="Acme Ltd")
        client.token = client.mint("acme", "admin")
        yield client


def database_name(url: str) -> str:
    return urlparse(url).path.lstrip("/")


def events_topic_for(database_url: str) -> str:
    """Each test database gets its own topics, so tests never read each other's events."""
    return f"bsdflow.events.{database_name(database_url)}"


class Settled:
    """Waits until every running projection has applied the event store up to a position."""

    def __init__(self, side: ReadSide) -> None:
        self.side = side

    async def __call__(self, position: int, timeout: float = 30.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while min(w.position for w in self.side.workers) < position:
            if asyncio.get_running_loop().time() > deadline:
                behind = {n: at for w in self.side.workers for n, at in w.positions.items()}
                raise AssertionError(f"projections did not reach {position}: {behind}")
            await asyncio.sleep(0.01)


@pytest.fixture
def read_side(stack: ServerUrls, database_url: str) -> Iterator[ReadSide]:
    """Relay and every projection worker for this test's database, on a topic of its own."""
    side = ReadSide(
        database_url,
        stack.kafka_bootstrap_servers,
        stack.redis_url,
        topic=events_topic_for(database_url),
    ).start()
    yield side
    side.stop()


@pytest.fixture
def settled(read_side: ReadSide) -> Settled:
    return Settled(read_side)


class FakeClock:
    """The scheduler's injectable "now": real time plus an offset the test moves, or a frozen
    instant."""

    def __init__(self) -> None:
        self.offset = timedelta(0)
        self.frozen: datetime | None = None

    def __call__(self) -> datetime:
        return self.frozen if self.frozen is not None else datetime.now(UTC) + self.offset

    def advance(self, by: timedelta) -> None:
        if self.frozen is not None:
            self.frozen += by
        self.offset += by

    def freeze(self, at: datetime) -> None:
        self.frozen = at


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def automation(runtime: Runtime, clock: FakeClock) -> Iterator[AutomationSide]:
    """Validation worker, reactor and scheduler for this test's database and topics."""
    side = AutomationSide(runtime, clock=clock, scheduler_config=SchedulerConfig(tick=0.05))
    side.start()
    assert side.validation is not None
    assert side.validation.ready.wait(30), "validation worker did not join its group"
    yield side
    side.stop()


@pytest.fixture
def http_server() -> Iterator[Recorder]:
    yield from http_recorder()


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    yield from smtp_mailbox()

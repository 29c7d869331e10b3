"""Restarts in every order: nothing acknowledged is lost, nothing is applied or sent twice.

The embedded broker keeps its topics in memory, so a broker restart is a broker that lost all
its data. After each kind of restart the test writes again and checks, by position, that the
new writes become readable, that automation fires exactly once per occurrence, that the topic
holds each event exactly once, and that every read model equals a rebuild from the event store.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from eventstore.postgres import PostgresEventStore
from infra.api import create_app
from infra.automation import AutomationSide
from infra.embedded import EmbeddedStack
from infra.kafka import header, headers_of, read_to_end
from infra.readdb import migrate_read_side, prepare_schema
from infra.readside import ReadSide
from infra.runtime import Runtime, build_runtime
from projections.rebuild import rebuild
from projections.registry import PROJECTIONS
from tests.conftest import Api, Settled, events_topic_for, settings_for
from tests.integration.test_automation import incident_setup, record_incident
from tests.runs import reactor_reached, run_settles, until
from tests.servers import Recorder


class Running:
    """The relay, the projection workers and automation of one database, each stoppable."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        urls = runtime.urls
        self.topic = runtime.settings.events_topic
        self.relay = ReadSide(
            urls.database_url, urls.kafka_bootstrap_servers, urls.redis_url,
            topic=self.topic, projections=[],
        )  # fmt: skip
        self.workers = self._workers()
        self.automation: AutomationSide | None = None

    def _workers(self) -> ReadSide:
        urls = self.runtime.urls
        return ReadSide(
            urls.database_url, urls.kafka_bootstrap_servers, urls.redis_url, topic=self.topic
        )

    def start(self) -> Running:
        self.relay.start(with_relay=True)
        self.workers.start(with_relay=False)
        self.start_automation()
        return self

    def start_automation(self) -> None:
        self.automation = AutomationSide(self.runtime).start()
        assert self.automation.validation is not None
        assert self.automation.validation.ready.wait(60), "validation worker did not join"

    def stop_relay(self) -> None:
        self.relay.stop()

    def start_relay(self) -> None:
        self.relay = ReadSide(
            self.runtime.urls.database_url, self.runtime.urls.kafka_bootstrap_servers,
            self.runtime.urls.redis_url, topic=self.topic, projections=[],
        ).start(with_relay=True)  # fmt: skip

    def restart_workers(self) -> None:
        self.workers.stop()
        assert self.automation is not None
        self.automation.stop()
        self.workers = self._workers().start(with_relay=False)
        self.start_automation()

    def stop(self) -> None:
        if self.automation is not None:
            self.automation.stop()
        self.workers.stop()
        self.relay.stop()

    async def settled(self, position: int) -> None:
        await Settled(self.workers)(position, timeout=90)
        assert self.automation is not None
        await reactor_reached(self.automation, position)


@pytest.fixture
async def api_of() -> AsyncIterator[Callable[[Runtime], Awaitable[Api]]]:
    clients: list[httpx.AsyncClient] = []

    async def make(runtime: Runtime) -> Api:
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://bsdflow.test"
        )
        clients.append(http)
        client = Api(http, runtime)
        client.token = client.mint("acme", "admin")
        return client

    yield make
    for http in clients:
        await http.aclose()


async def first_writes(api: Api, recorder: Recorder) -> dict[str, str]:
    platform = api.mint("platform", "platform")
    await api.command("create-tenant", token=platform, slug="acme", name="Acme Ltd")
    ids = await incident_setup(api, f"{recorder.url}/ok")
    await record_incident(api, ids, 4, "before the restart")
    await until(lambda: len(recorder.on("/ok")) == 1, what="the first webhook call")
    return ids


async def check_after(api: Api, running: Running, ids: dict[str, str], recorder: Recorder) -> None:
    """Writes after the restart become readable by position and fire automation once."""
    site_type = await api.command(
        "define-entity-type", name="Depot", fields=[{"name": "title", "type": "text"}]
    )
    await api.command("create-entity", entity_type_id=site_type.id, data={"title": "after"})
    last = await record_incident(api, ids, 5, "after the restart")
    await running.settled(last.position)
    await run_settles(api, ids["pa"], "delivered", count=2, timeout=90)
    calls = await until(lambda: recorder.on("/ok") if len(recorder.on("/ok")) >= 2 else None)
    summaries = [json.loads(c.body)["summary"] for c in calls]
    assert summaries == ["before the restart", "after the restart"], "sent twice or not at all"
    titles = await entity_titles(running.runtime)
    assert "after" in titles


async def entity_titles(runtime: Runtime) -> set[str]:
    with psycopg.connect(runtime.urls.database_url) as conn:
        return {r[0] for r in conn.execute("SELECT title FROM rm_entities.entities").fetchall()}


def published_once(runtime: Runtime, topic: str) -> None:
    """The topic is the event store's log: every position once, in order."""
    positions = [
        int(header(headers_of(m), "position") or 0)
        for m in read_to_end(runtime.urls.kafka_bootstrap_servers, topic, 0)
    ]
    doubled = [p for p, n in Counter(positions).items() if n > 1]
    assert doubled == [], f"published more than once: {doubled[:10]}"
    assert positions == sorted(positions)
    assert len(positions) == runtime.store.count()


def models_equal_a_rebuild(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        for projection in PROJECTIONS.values():
            live = tables_of(conn, projection.schema, projection.tables)
            rebuild(conn, projection, prepare_schema, chunk=50)
            rebuilt = tables_of(conn, projection.schema, projection.tables)
            assert rebuilt == live, f"{projection.name} differs from its rebuild"


def tables_of(conn: psycopg.Connection[Any], schema: str, tables: Any) -> dict[str, list[Any]]:
    return {
        table: sorted(map(repr, conn.execute(f"SELECT * FROM {schema}.{table}").fetchall()))
        for table in tables
    }


RESTARTS = [
    "broker",
    "broker twice in a row",
    "relay",
    "relay that died after publishing, before storing its position",
    "workers",
    "broker while the relay is down",
]


@pytest.mark.parametrize("restart", RESTARTS)
async def test_after_a_restart_everything_converges_once(
    restart: str,
    embedded_stack: EmbeddedStack,
    runtime: Runtime,
    api_of: Callable[[Runtime], Awaitable[Api]],
    http_server: Recorder,
) -> None:
    api = await api_of(runtime)
    running = Running(runtime).start()
    try:
        ids = await first_writes(api, http_server)
        if restart == "broker":
            embedded_stack.restart_broker()
        elif restart == "broker twice in a row":
            embedded_stack.restart_broker()
            embedded_stack.restart_broker()
        elif restart == "relay":
            running.stop_relay()
            await record_incident(api, ids, 1, "while the relay was down")
            running.start_relay()
        elif restart.startswith("relay that died"):
            running.stop_relay()
            # As if the relay had published its last batch and died before storing it.
            with psycopg.connect(runtime.urls.database_url, autocommit=True) as conn:
                conn.execute(
                    "UPDATE bsdflow_ops.relay_position SET position = position - 3, "
                    "kafka_offset = kafka_offset - 3"
                )
            running.start_relay()
        elif restart == "workers":
            running.restart_workers()
        elif restart == "broker while the relay is down":
            running.stop_relay()
            embedded_stack.restart_broker()
            await record_incident(api, ids, 1, "while the relay was down")
            running.start_relay()
        await check_after(api, running, ids, http_server)
        published_once(runtime, running.topic)
    finally:
        running.stop()
    models_equal_a_rebuild(runtime.urls.database_url)


async def test_the_whole_system_restarted_on_the_same_data(
    tmp_path: Path, api_of: Callable[[Runtime], Awaitable[Api]], http_server: Recorder
) -> None:
    """What `make run` stopped and started again does: every server and service anew, the
    database kept, the broker empty."""
    data = tmp_path / "stack"

    def start() -> Runtime:
        stack = EmbeddedStack(data)
        urls = stack.start()
        PostgresEventStore(urls.database_url, 1, 0).close()
        migrate_read_side(urls.database_url)
        settings = settings_for(urls, tmp_path / "data")
        settings.events_topic = events_topic_for(urls.database_url)
        return build_runtime(settings, urls, stack)  # closing the runtime stops the stack

    runtime = start()
    running = Running(runtime).start()
    try:
        api = await api_of(runtime)
        ids = await first_writes(api, http_server)
    finally:
        running.stop()
        runtime.close()
    for _ in range(2):  # and once more: two restarts in a row
        runtime = start()
        running = Running(runtime).start()
        try:
            api = await api_of(runtime)
            expected = len(http_server.on("/ok")) + 1
            last = await record_incident(api, ids, 3, "again")
            await running.settled(last.position)
            await until(lambda n=expected: len(http_server.on("/ok")) == n, what="one more call")
            published_once(runtime, running.topic)
        finally:
            running.stop()
        models_equal_a_rebuild(runtime.urls.database_url)
        runtime.close()
    assert len(http_server.on("/ok")) == 3

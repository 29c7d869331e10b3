"""What DESIGN.md §6 promises of the read side, checked against the real broker and database."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from uuid import uuid4

import orjson
import psycopg
import redis

from infra.doorbell import Doorbell
from infra.readdb import READER_ROLE, TENANT_SETTING, prepare_schema
from infra.relay import Relay
from infra.worker import ProjectionWorker
from projections.apply import checkpoint
from projections.rebuild import rebuild
from projections.registry import PROJECTIONS
from tests.conftest import database_name

ENTITIES = PROJECTIONS["entities"]
BIN = Path(sys.executable).parent


def snapshot(database_url: str, projection=ENTITIES, schema: str | None = None) -> dict[str, list]:
    schema = schema or projection.schema
    with psycopg.connect(database_url) as conn:
        return {
            table: conn.execute(f"SELECT * FROM {schema}.{table} ORDER BY 1, 2").fetchall()
            for table in projection.tables
        }


async def seed(api, n: int = 30):
    site = await api.command(
        "define-entity-type",
        name=f"Site{uuid4().hex[:6]}",
        fields=[{"name": "title", "type": "text"}],
    )
    last = site
    for i in range(n):
        last = await api.command(
            "create-entity", entity_type_id=site.id, data={"title": f"Site {i}"}
        )
        if i % 3 == 0:
            last = await api.command(
                "update-entity", entity_id=last.id, data={"title": f"Renamed {i}"}
            )
    return site, last


async def wait_until(condition, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def event_count(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT count(*) FROM bsdflow_events").fetchone()[0]


class Background:
    """Runs a worker or relay on a thread for the duration of a `with` block."""

    def __init__(self, service) -> None:
        self.service = service
        self.stop = threading.Event()
        self.thread = threading.Thread(target=service.run, args=(self.stop,), daemon=True)

    def __enter__(self):
        self.thread.start()
        return self.service

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(15)


async def test_redelivering_every_event_changes_nothing(
    api, stack, database_url, read_side, settled
):
    _, last = await seed(api)
    await settled(last.position)
    before = snapshot(database_url)
    total = event_count(database_url)
    # Forget where in the Kafka log the checkpoint was (keep its position): a new worker then
    # receives every message of the topic again.
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE rm_entities._checkpoint SET kafka_offset = -1")
    replay = ProjectionWorker(
        ENTITIES, database_url, stack.kafka_bootstrap_servers, redis.Redis.from_url(stack.redis_url),
        topic=read_side.topic, group=f"{read_side.topic}.replay",
    )  # fmt: skip
    with Background(replay):
        await wait_until(lambda: replay.delivered >= total)
    assert snapshot(database_url) == before


async def test_a_worker_killed_mid_stream_loses_and_duplicates_nothing(api, stack, database_url):
    topic = f"bsdflow.events.{database_name(database_url)}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
        "REDIS_URL": stack.redis_url,
        "BSDFLOW_EVENTS_TOPIC": topic,
        "BSDFLOW_JWT_SECRET": "unused-but-required-in-prod-xxxxxxxxxxxx",
    }
    relay = Relay(database_url, stack.kafka_bootstrap_servers, topic=topic)

    def start_worker() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [str(BIN / "bsdflow"), "worker", "--projection", "entities"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    with Background(relay):
        worker = start_worker()
        try:
            site, _ = await seed(api, 5)
            await wait_until(lambda: checkpoint_of(database_url) > 0)
            ids = [
                (
                    await api.command(
                        "create-entity", entity_type_id=site.id, data={"title": f"x{i}"}
                    )
                ).id
                for i in range(60)
            ]
            worker.send_signal(signal.SIGKILL)  # no goodbye: mid-batch or between commit and offset
            worker.wait(10)
            last = await api.command("update-entity", entity_id=ids[-1], data={"title": "last"})
            worker = start_worker()
            await wait_until(lambda: checkpoint_of(database_url) >= last.position, timeout=60)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(15)
    with psycopg.connect(database_url) as conn:
        rows = dict(conn.execute("SELECT id::text, version FROM rm_entities.entities").fetchall())
    assert set(ids) <= set(rows)
    assert len(rows) == 65
    assert rows[ids[-1]] == 2
    assert all(rows[i] == 1 for i in ids[:-1])


async def test_a_worker_joining_after_the_events_reads_them_without_waiting_for_a_ring(
    api, stack, database_url
):
    """The relay rang before the worker joined; the worker must not pause on its first empty
    polls (its fetcher had not asked yet) and sleep until a ring that was already sent."""
    topic = f"bsdflow.events.{database_name(database_url)}"
    relay = Relay(database_url, stack.kafka_bootstrap_servers, topic=topic)
    with Background(relay):
        _, last = await seed(api, 3)
        await wait_until(lambda: relay.position >= last.position)
    doorbell = Doorbell(stack.redis_url, fallback=3600)  # no look of its own during the test
    worker = ProjectionWorker(
        ENTITIES, database_url, stack.kafka_bootstrap_servers, redis.Redis.from_url(stack.redis_url),
        topic=topic, doorbell=doorbell,
    )  # fmt: skip
    try:
        with Background(worker):
            await wait_until(lambda: worker.position >= last.position)
    finally:
        doorbell.close()


def checkpoint_of(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        return checkpoint(conn, ENTITIES.schema)[0]


async def test_a_rebuilt_projection_equals_the_live_one(api, database_url, read_side, settled):
    _, last = await seed(api, 40)
    await settled(last.position)
    live = snapshot(database_url)
    with psycopg.connect(database_url) as conn:
        result = rebuild(conn, ENTITIES, prepare_schema, chunk=7)
    assert result.events_applied > 40
    assert snapshot(database_url) == live
    # The live worker carries on in the swapped-in tables.
    more = await api.command(
        "create-entity", entity_type_id=str(live["entities"][0][2]), data={"title": "after"}
    )
    await settled(more.position)
    assert len(snapshot(database_url)["entities"]) == len(live["entities"]) + 1


async def test_broker_restarted_empty_relay_republishes_and_models_converge(
    api, embedded_stack, database_url, read_side, settled
):
    site, last = await seed(api, 10)
    await settled(last.position)
    embedded_stack.restart_broker()
    after = await api.command(
        "create-entity", entity_type_id=site.id, data={"title": "after restart"}
    )
    await settled(after.position, timeout=60)
    with psycopg.connect(database_url) as conn:
        titles = {r[0] for r in conn.execute("SELECT title FROM rm_entities.entities").fetchall()}
    assert "after restart" in titles
    assert len(titles) == 11


async def test_a_poison_event_is_parked_while_later_events_apply(
    api, database_url, read_side, settled
):
    site, _ = await seed(api, 1)
    poison_id = uuid4()
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO bsdflow_events (originator_id, originator_version, topic, state) "
            "VALUES (%s, 1, 'domain.entity:Entity.Created', %s)",
            (
                poison_id,
                orjson.dumps(
                    {"timestamp": "2026-01-01T00:00:00+00:00", "tenant_id": site.body["id"]}
                ),
            ),
        )
    later = await api.command(
        "create-entity", entity_type_id=site.id, data={"title": "still flows"}
    )
    await settled(later.position)
    with psycopg.connect(database_url) as conn:
        parked = conn.execute(
            "SELECT projection, originator_id, error FROM bsdflow_ops.dead_letters"
        ).fetchall()
        titles = {r[0] for r in conn.execute("SELECT title FROM rm_entities.entities").fetchall()}
    # Parked by every projection that needs what the event lacks (entities at least).
    assert ("entities", poison_id) in {(p, o) for p, o, _ in parked}
    assert {o for _, o, _ in parked} == {poison_id}
    assert all("KeyError" in error for *_, error in parked)
    assert "still flows" in titles


def test_every_tenant_table_forces_row_level_security(stack, database_url):
    with psycopg.connect(database_url) as conn:
        tables = conn.execute(
            "SELECT c.oid::regclass::text, c.relrowsecurity, c.relforcerowsecurity, "
            "pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' "
            "WHERE c.relkind = 'r' AND n.nspname LIKE 'rm\\_%'"
        ).fetchall()
    assert len(tables) >= sum(len(p.tables) for p in PROJECTIONS.values())
    assert [t for t in tables if not (t[1] and t[2])] == []
    assert all(owner != READER_ROLE for *_, owner in tables)


async def test_without_a_tenant_the_reader_sees_nothing(api, database_url, read_side, settled):
    _, last = await seed(api, 3)
    await settled(last.position)
    with psycopg.connect(database_url) as conn, conn.transaction():
        conn.execute(f"SET LOCAL ROLE {READER_ROLE}")
        assert conn.execute("SELECT count(*) FROM rm_entities.entities").fetchone()[0] == 0
        conn.execute("SELECT set_config(%s, %s, true)", (TENANT_SETTING, str(uuid4())))
        assert conn.execute("SELECT count(*) FROM rm_entities.entities").fetchone()[0] == 0


async def test_only_one_relay_leads(stack, database_url):
    first = Relay(database_url, stack.kafka_bootstrap_servers, topic=f"solo.{uuid4().hex}")
    second = Relay(database_url, stack.kafka_bootstrap_servers, topic=first.topic)
    with Background(first):
        await wait_until(first.is_leader.is_set)
        with Background(second):
            await asyncio.sleep(0)  # let it try the lock at least once
            await wait_until(
                lambda: second.thread_tried if hasattr(second, "thread_tried") else True
            )
            assert not second.is_leader.is_set()
        # when the leader goes away, a waiting relay takes over
    with Background(second):
        await wait_until(second.is_leader.is_set)


async def test_an_event_the_database_cannot_store_is_parked_and_later_ones_apply(
    api, database_url, read_side, settled
):
    """Commands refuse NUL; an event holding one anyway (written by an older version, say)
    is parked by every projection it breaks, without looping, while later events apply."""
    valid = await api.command("register-participant", name="template")
    with psycopg.connect(database_url) as conn:
        topic, state = conn.execute(
            "SELECT topic, state FROM bsdflow_events WHERE originator_id = %s", (valid.id,)
        ).fetchone()
        poisoned = orjson.loads(bytes(state))
        poisoned["name"] = "nul\u0000x"
        poison_id = uuid4()
        conn.execute(
            "INSERT INTO bsdflow_events (originator_id, originator_version, topic, state) "
            "VALUES (%s, 1, %s, %s)",
            (poison_id, topic, orjson.dumps(poisoned)),
        )
    platform = api.mint("platform", "platform")
    await api.command("create-tenant", token=platform, slug="other", name="Other")
    later = await api.command(
        "register-participant", token=api.mint("other", "admin"), name="still flows"
    )
    await settled(later.position)
    with psycopg.connect(database_url) as conn:
        parked = conn.execute(
            "SELECT projection, event, raw FROM bsdflow_ops.dead_letters WHERE originator_id = %s",
            (poison_id,),
        ).fetchall()
        names = {r[0] for r in conn.execute("SELECT name FROM rm_participants.participants")}
    assert {"participants", "search"} <= {p for p, _, _ in parked}
    for _, shown, raw in parked:
        assert orjson.loads(bytes(raw))["data"]["name"] == "nul\u0000x"  # kept exactly
        assert shown["data"]["name"] == "nul\ufffdx"  # a copy the database can hold
    assert "still flows" in names

"""Set-based batching changes nothing but speed: any batching of a stream gives the same rows.

Events are written with the domain aggregates into a real event store; every projection then
applies them one event per transaction (the reference), in batches of every size, and
rebuilt; all must agree row for row. The stream interleaves what batching must keep in order:
an entity created and updated (twice, nulls clearing fields) in one batch, a schema revision
between an entity's events, archivals, and the other aggregates' lifecycles.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from domain.access import Member, Role
from domain.document import Document
from domain.entity import Entity
from domain.entity_type import EntityType
from domain.group import Group
from domain.import_job import ImportJob
from domain.occurrence import Occurrence
from domain.participant import Participant
from domain.process import Process
from domain.tenant import Tenant
from eventstore import RecordedEvent, decode_event
from eventstore.postgres import PostgresEventStore
from infra.readdb import prepare_schema
from projections.apply import Delivered, apply_batch, checkpoint
from projections.rebuild import rebuild
from projections.registry import PROJECTIONS
from projections.writes import writes

FIELDS = [
    {"name": "title", "type": "text", "searchable": "A"},
    {"name": "city", "type": "text", "searchable": "B"},
    {"name": "note", "type": "long_text"},
    {"name": "population", "type": "integer"},
]


def write_stream(database_url: str) -> None:
    store = PostgresEventStore(database_url, 2, 0)
    tenant_id = Tenant.create_id("apply")
    meta = {"tenant_id": str(tenant_id), "actor": "t", "correlation_id": "c"}
    tenant = Tenant.create("apply", "Apply", {})
    site = EntityType.define(tenant.id, "Site", FIELDS, search_importance="population")
    store.save(tenant, site, metadata=meta)
    entities = []
    for i in range(40):
        entity = Entity.create(
            site,
            {"title": f"Haifa depot {i}", "city": "Haifa", "note": "n", "population": i},
            {"lat": 32.8, "lon": 35.0 + i / 100} if i % 2 else None,
        )
        if i % 3 == 0:
            entity.update(site, {"title": f"Lyon works {i}", "note": None})
        if i % 5 == 0:
            entity.update(site, {"city": "Porto"}, {"lat": 41.1, "lon": -8.6})
        entities.append(entity)
    store.save(*entities[:20], metadata=meta)
    site.revise([*FIELDS[:1], {**FIELDS[1], "searchable": "C"}, *FIELDS[2:]], "population")
    store.save(site, *entities[20:], metadata=meta)
    for entity in entities[::4]:
        entity.update(site, {"population": 1_000})
    for entity in entities[1::7]:
        entity.archive()
    store.save(*entities, metadata=meta)
    people = [Participant.register(tenant.id, f"Ann {i}", email=f"a{i}@x.org") for i in range(6)]
    people[0].update({"email": None, "name": "Anna"})
    process = Process.open(tenant.id, "inspection", "Bridge check", ["open", "review"])
    process.enter_stage("review")
    process.assign(people[1].id, "lead")
    process.link_entity(entities[2].id)
    process.close("done")
    group = Group.create(tenant.id, "North")
    group.add_members([entities[0].id, entities[3].id], [people[2].id])
    group.remove_members([entities[0].id], [])
    document = Document.attach(
        tenant.id, "entity", entities[3].id, "r.txt", "text/plain", 3,
        hashlib.sha256(b"abc").hexdigest(), text="bridge survey",
    )  # fmt: skip
    document.rename("Survey")
    clerk = Role.define(tenant.id, "clerk", "Counter", ["data:write"])
    clerk.change(None, ["data:write", "read:*"])
    gone = Role.define(tenant.id, "temp", "", ["read:groups"])
    gone.remove()
    viewer = Role.built_in(tenant.id, "viewer")
    viewer.change("Reads entities", ["read:entities"])
    ada = Member(tenant_id=tenant.id, actor="ada", roles=["clerk"])
    ada.bind(["clerk", "viewer"])
    bo = Member(tenant_id=tenant.id, actor="bo", roles=["viewer"])
    bo.remove()
    store.save(clerk, gone, viewer, ada, bo, metadata=meta)
    seen = [
        Occurrence.record(
            tenant.id,
            "sighting",
            datetime.now(UTC),
            {"what": f"crack {i}"},
            {"lat": 31.0, "lon": 35.0},
            process.id,
            [entities[5].id],
            [people[3].id],
        )
        for i in range(3)
    ]
    seen[1].retract("duplicate")
    job = ImportJob(
        tenant_id=tenant.id, source="upload", filename="sites.csv", file_format="csv",
        size=10, sha256="a" * 64, entity_type_id=site.id, sheet=None, mapping={},
        key_field=None, auto_start=False, actor="t",
    )  # fmt: skip
    job.checked([{"name": "sites", "header": ["code"], "mapping": {"code": "code"},
                  "matches": [], "rows": 3}], {"code": "code"}, 3, 2,
                [{"sheet": "sites", "row": 3, "field": "code", "message": "is required"}])  # fmt: skip
    job.start()
    job.progressed("sites", 3, 1, 1, 1, 0, [])
    job.progressed("sites", 4, 1, 0, 0, 1, [])
    job.completed()
    store.save(*people, process, group, document, *seen, job, metadata=meta)
    store.close()


def load_events(database_url: str) -> list[Delivered]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM bsdflow_events ORDER BY notification_id"
        ).fetchall()
    return [Delivered(decode_event(*row), "t", 0, i) for i, row in enumerate(rows)]


def apply_all(
    database_url: str, name: str, schema: str, events: list[Delivered], size: int
) -> None:
    projection = PROJECTIONS[name]
    with psycopg.connect(database_url, autocommit=True) as conn:
        prepare_schema(conn, projection, schema)
        for i in range(0, len(events), size):
            apply_batch(conn, projection, events[i : i + size], schema=schema)


def snapshot(database_url: str, name: str, schema: str) -> dict[str, list[Any]]:
    with psycopg.connect(database_url) as conn:
        return {
            table: conn.execute(f"SELECT * FROM {schema}.{table} t ORDER BY t::text").fetchall()
            for table in PROJECTIONS[name].tables
        }


@pytest.fixture
def stream(database_url: str) -> list[Delivered]:
    write_stream(database_url)
    return load_events(database_url)


# Automation's aggregates are not in this stream; test_automation_read covers its batching.
@pytest.mark.parametrize("name", sorted(set(PROJECTIONS) - {"automation"}))
def test_every_batching_gives_the_rows_of_one_event_at_a_time(database_url, stream, name):
    apply_all(database_url, name, "one_by_one", stream, 1)
    expected = snapshot(database_url, name, "one_by_one")
    assert any(expected.values())
    for size in (3, 17, 1_000):
        apply_all(database_url, name, f"batched_{size}", stream, size)
        assert snapshot(database_url, name, f"batched_{size}") == expected, size
    with psycopg.connect(database_url) as conn:
        rebuild(conn, PROJECTIONS[name], prepare_schema, chunk=50)
    assert snapshot(database_url, name, PROJECTIONS[name].schema) == expected
    # built after the fill or kept up during it, the rebuilt schema has every index
    assert indexes(database_url, PROJECTIONS[name].schema) == indexes(database_url, "one_by_one")


def indexes(database_url: str, schema: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = %s ORDER BY indexname", (schema,)
        ).fetchall()
    return [str(r[0]).replace(f"{schema}.", "{schema}.") for r in rows]


def test_a_created_and_updated_entity_is_written_once_as_it_ends(database_url, stream):
    events = [d.event for d in stream if ":Entity." in d.event.type]
    statements = writes("s", PROJECTIONS["entities"].runs(events))
    assert len(statements) <= 6, statements  # creates, updates, archivals: around the revision
    apply_all(database_url, "entities", "folded", stream, 1_000)
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT title, data, version FROM folded.entities WHERE title = 'Lyon works 3'"
        ).fetchall()
    assert rows == [
        ("Lyon works 3", {"title": "Lyon works 3", "city": "Haifa", "population": 3}, 2)
    ]


def test_reapplying_batches_at_or_below_the_checkpoint_changes_nothing(database_url, stream):
    for name in ("entities", "search", "counts"):
        apply_all(database_url, name, "twice", stream, 100)
        before = snapshot(database_url, name, "twice")
        apply_all(database_url, name, "twice", stream, 64)
        assert snapshot(database_url, name, "twice") == before, name
        with psycopg.connect(database_url) as conn:
            assert checkpoint(conn, "twice")[0] == stream[-1].event.position
            conn.execute("DROP SCHEMA twice CASCADE")
            conn.commit()


def test_a_bad_event_in_a_batch_is_parked_and_the_rest_applied(database_url, stream):
    entities = PROJECTIONS["entities"]
    good = stream[0].event
    bad = RecordedEvent(
        stream[-1].event.position + 1, uuid4(), 1, "domain.entity:Entity.Created",
        {"timestamp": good.data["timestamp"]}, good.meta,
    )  # fmt: skip
    batch = [*stream, Delivered(bad, "t", 0, len(stream))]
    with psycopg.connect(database_url, autocommit=True) as conn:
        prepare_schema(conn, entities, "parked")
        result = apply_batch(conn, entities, batch, schema="parked", backoff=0)
    assert [p.delivered.event.originator_id for p in result.parked] == [bad.originator_id]
    assert result.applied == len(stream)
    apply_all(database_url, "entities", "clean", stream, 1_000)
    assert snapshot(database_url, "entities", "parked") == snapshot(
        database_url, "entities", "clean"
    )

"""What the event store keeps: plain JSON events with metadata, evolvable, snapshotted."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import orjson
import psycopg

from domain.entity import Entity
from domain.process import Process
from domain.tenant import DEFAULT_SETTINGS, Tenant
from eventstore import read_metadata
from eventstore.postgres import SNAPSHOT_EVERY


def stored_rows(database_url, originator_id):
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT originator_version, topic, state, notification_id FROM bsdflow_events "
            "WHERE originator_id = %s ORDER BY originator_version",
            (originator_id,),
        ).fetchall()


async def test_every_event_carries_tenant_actor_correlation_and_causation(api, database_url):
    reply = await api.post(
        "register-participant",
        {"name": "Meta Data"},
        headers={"X-Request-ID": "req-77", "X-Correlation-ID": "journey-9"},
    )
    [(_version, topic, state, position)] = stored_rows(database_url, UUID(reply.id))
    meta = read_metadata(state)
    assert meta["tenant_id"] == str(Tenant.create_id("acme"))
    assert meta["actor"] == "tester"
    assert (meta["correlation_id"], meta["causation_id"]) == ("journey-9", "req-77")
    assert meta["command"] == "register-participant"
    datetime.fromisoformat(meta["issued_at"])
    assert topic == "domain.participant:Participant.Registered"
    assert position == reply.position


async def test_events_are_plain_json_and_load_back_typed(api, database_url):
    opened = await api.command(
        "open-process", kind="audit", title="Typed", stages=["a"], due_at="2026-12-01T10:00:00Z"
    )
    [(_, _, state, _)] = stored_rows(database_url, UUID(opened.id))
    payload = orjson.loads(state)
    assert payload["due_at"] == "2026-12-01T10:00:00+00:00"
    assert payload["tenant_id"] == str(Tenant.create_id("acme"))
    process = api.runtime.store.find(Process, UUID(opened.id))
    assert isinstance(process.tenant_id, UUID)
    assert isinstance(process.due_at, datetime)


async def test_a_v1_tenant_event_is_upcast_when_loaded(api, database_url):
    """Tenant.Created v1 had no settings; v2 loads such tenants with the defaults."""
    tenant_id = Tenant.create_id("legacy")
    v1_state = orjson.dumps(
        {
            "timestamp": "2024-01-01T00:00:00+00:00",
            "originator_topic": "domain.tenant:Tenant",
            "slug": "legacy",
            "name": "Legacy Co",
        }
    )
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO bsdflow_events (originator_id, originator_version, topic, state) "
            "VALUES (%s, 1, %s, %s)",
            (tenant_id, "domain.tenant:Tenant.Created", v1_state),
        )
    legacy = api.runtime.store.find(Tenant, tenant_id)
    assert (legacy.slug, legacy.settings) == ("legacy", DEFAULT_SETTINGS)
    token = api.mint("legacy", "admin")
    await api.command("rename-tenant", token=token, name="Legacy Company")


async def test_long_streams_are_snapshotted_and_load_identically(api, database_url):
    site = await api.command(
        "define-entity-type", name="Counter", fields=[{"name": "n", "type": "integer"}]
    )
    entity = await api.command("create-entity", entity_type_id=site.id, data={"n": 0})
    for n in range(1, SNAPSHOT_EVERY + 5):
        await api.command("update-entity", entity_id=entity.id, data={"n": n})
    with psycopg.connect(database_url) as conn:
        snapshots = conn.execute(
            "SELECT originator_version FROM bsdflow_snapshots WHERE originator_id = %s",
            (UUID(entity.id),),
        ).fetchall()
    assert snapshots == [(SNAPSHOT_EVERY,)]
    store = api.runtime.store
    from_snapshot = store.find(Entity, UUID(entity.id))
    assert from_snapshot.data == {"n": SNAPSHOT_EVERY + 4}
    assert from_snapshot.version == SNAPSHOT_EVERY + 5
    assert isinstance(from_snapshot.entity_type_id, UUID)
    assert isinstance(from_snapshot.created_on, datetime)
    at_snapshot = store.find(Entity, UUID(entity.id), SNAPSHOT_EVERY)
    assert at_snapshot.data == {"n": SNAPSHOT_EVERY - 1}

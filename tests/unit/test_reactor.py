"""The reactor reacts purely: events in, the index's statements and the runs to plan out; its
runner issues the plans before it hands the statements over.

The events come from the command service on the in-memory store, as the handler tests make
them; the reactor reads that store through its lookup and must store nothing itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import pytest

from automation.lookup import Lookup
from automation.process_manager import Reaction
from automation.reactor import Reactor
from commands.action_runs import RunPlan
from commands.service import CommandService
from domain.tenant import Tenant
from eventstore import RecordedEvent
from eventstore.memory import InMemoryEventStore
from infra.blobs import DiskBlobStore
from infra.process_managers import driven
from infra.secrets import FernetSecretBox
from projections.base import Statement
from tests.unit.commands.conftest import ACME, TENANT, Handle, MemoryLocks

AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
UPSERT = (
    "INSERT INTO {schema}.process_actions (tenant_id, id, definition, position) "
    "VALUES (%s, %s, %s, %s) ON CONFLICT (tenant_id, id) DO UPDATE "
    "SET definition = EXCLUDED.definition, position = EXCLUDED.position"
)


@pytest.fixture
def handle(tmp_path: Path) -> Handle:
    store = InMemoryEventStore(given=[Tenant.create(TENANT, "Acme", {})])
    blobs = DiskBlobStore(tmp_path / "blobs", max_bytes=1 << 20)
    locks = MemoryLocks()
    return Handle(store, CommandService(store, locks, blobs, FernetSecretBox("k")), blobs, locks)


def incident(handle: Handle, severity: int) -> UUID:
    return handle(
        "record-occurrence", kind="incident", occurred_at=AT, data={"severity": severity}
    ).id


def attached(handle: Handle) -> tuple[UUID, UUID]:
    """(action, process action): page on-call when an incident of severity >= 3 is recorded."""
    fields = [{"name": "severity", "type": "integer"}]
    handle("define-occurrence-kind", as_role="admin", name="incident", fields=fields)
    action = handle(
        "create-action",
        as_role="admin",
        name="Page on-call",
        channel="webhook",
        template={"body": "severity {{ occurrence.data.severity }}"},
        config={"url": "https://hooks.example.org/in"},
    ).id
    pa = handle(
        "attach-process-action",
        as_role="admin",
        name="Severe",
        action_id=str(action),
        trigger={"on": "occurrence_recorded", "kind": "incident"},
        condition={">=": [{"var": "data.severity"}, 3]},
    ).id
    return action, pa


def named(events: list[RecordedEvent], name: str) -> list[RecordedEvent]:
    return [event for event in events if event.name == name]


def values(statement: Statement) -> tuple[Any, ...]:
    """The index's upsert: (tenant, process action, definition, position)."""
    assert statement.sql == UPSERT
    assert isinstance(statement.params, tuple)
    tenant, pa, definition, position = statement.params
    return tenant, pa, orjson.loads(definition), position


def test_react_indexes_the_watch_and_plans_only_what_its_condition_allows(handle: Handle) -> None:
    action, pa = attached(handle)
    severe = incident(handle, 4)
    incident(handle, 2)  # below the condition's threshold
    events = handle.events
    handle.store.given()  # what the reactor stores, if anything, is new from here
    reactor = Reactor(Lookup(handle.store))

    reaction = reactor.react(events)

    [attach] = named(events, "ProcessAction.Attached")
    [upsert] = reaction.statements
    tenant, indexed, definition, position = values(upsert)
    assert (tenant, indexed, position) == (ACME, pa, attach.position)
    assert definition["action_id"] == str(action)
    assert definition["condition"] == {">=": [{"var": "data.severity"}, 3]}
    assert definition["paused"] is False
    [recorded, _] = named(events, "Occurrence.Recorded")
    [plan] = reaction.commands
    assert isinstance(plan, RunPlan)
    assert (plan.tenant_id, plan.process_action_id, plan.action_id) == (ACME, pa, action)
    assert plan.trigger_key == f"event:{severe}:1"
    assert plan.planned_at == recorded.timestamp  # the event's own time, not the clock's
    assert plan.context["occurrence"]["data"] == {"severity": 4}
    # Pure: nothing planned or stored, the in-memory index the only change, and a second
    # reactor given the same events reacts the same.
    assert handle.store.new_events == []
    assert reactor.planned == 0
    assert set(reactor.watches[ACME]) == {pa}
    assert Reactor(Lookup(handle.store)).react(events) == reaction


def test_a_paused_watch_is_indexed_and_plans_nothing(handle: Handle) -> None:
    _, pa = attached(handle)
    reactor = Reactor(Lookup(handle.store))
    reactor.react(handle.events)
    handle.store.given()
    handle("pause-process-action", as_role="admin", process_action_id=str(pa))
    incident(handle, 5)

    reaction = reactor.react(handle.events)

    [upsert] = reaction.statements
    assert values(upsert)[2]["paused"] is True
    assert reaction.commands == ()
    assert reactor.watches[ACME][pa].paused


def test_events_of_tenants_without_watches_call_for_nothing(handle: Handle) -> None:
    incident_kind = [{"name": "severity", "type": "integer"}]
    handle("define-occurrence-kind", as_role="admin", name="incident", fields=incident_kind)
    incident(handle, 5)
    assert Reactor(Lookup(handle.store)).react(handle.events) == Reaction()


def test_only_events_of_tenants_with_watches_concern_the_reactor(handle: Handle) -> None:
    """What does not concern it costs its worker no transaction, only a later checkpoint."""
    attached(handle)
    incident(handle, 5)
    [recorded] = named(handle.events, "Occurrence.Recorded")
    [attach] = named(handle.events, "ProcessAction.Attached")
    reactor = Reactor(Lookup(handle.store))
    assert reactor.concerns(attach)
    assert not reactor.concerns(recorded)  # no watch of its tenant indexed yet

    reactor.react([attach])

    assert reactor.concerns(recorded)


def test_the_runner_issues_the_plans_before_the_statements_are_written(handle: Handle) -> None:
    attached(handle)
    incident(handle, 4)
    seen: list[str] = []
    reacting = driven(
        Reactor(Lookup(handle.store)), lambda plans: seen.append(f"{len(plans)} plan")
    )

    for run in reacting.runs(handle.events):
        seen.extend(statement.sql for statement in run)

    assert seen == ["1 plan", UPSERT]
    assert (reacting.name, reacting.schema) == ("reactor", "automation_reactor")

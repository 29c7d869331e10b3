"""Simulating a process action over recorded history: the reactor's own planning, run on the
tenant's past events with a proposed definition, with no side effects.

It replays the events of the trigger's kind in the store's order and plans as the live reactor
would have: the same conditions, schedules, recipients and follow-up steps, with the records
read as they were at each event (the live reactor reads them a moment after it). Fallbacks are
not simulated: they follow deliveries, which a simulation does not make.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import psycopg
from anyio import to_thread

from automation.lookup import Lookup
from automation.reactor import Reactor, Watch
from domain.entity import Entity
from domain.occurrence import Occurrence
from domain.process import Process
from domain.triggers import parse_trigger
from eventstore import Aggregate, EventStore
from eventstore.envelope import decode_event, type_of
from eventstore.reading import StoredRow, events_after, head_position
from projections.base import event_class
from read_api.ports import Simulate, SimulatedRun, Simulation

A = TypeVar("A", bound=Aggregate)
WINDOW = 10_000
"""Positions read per query."""
SIMULATED = UUID("00000000-0000-0000-0000-00000000516d")
"""The process action id a proposal plans under (its runs' keys are what a live one's are)."""
TOPICS: dict[str, tuple[str, ...]] = {
    "occurrence_recorded": (type_of(event_class(Occurrence, "Recorded")),),
    "entity_created": (type_of(event_class(Entity, "Created")),),
    "entity_changed": (type_of(event_class(Entity, "Updated")),),
    "stage_entered": (type_of(Process.StageEntered),),
    "sla_reminder": (type_of(event_class(Process, "SlaReminded")),),
    "sla_breached": (type_of(event_class(Process, "SlaBreached")),),
}


class AsOf(Lookup):
    """Records as they were at the event being replayed (`position`)."""

    position = 0

    def get(self, cls: type[A], aggregate_id: UUID, version: int | None = None) -> A | None:
        if version is None:
            version = self.store.version_at(aggregate_id, self.position)
            if version is None:
                return None
        return self.store.find(cls, aggregate_id, version)


def simulate(
    store: EventStore,
    database_url: str,
    tenant_id: UUID,
    definition: dict[str, Any],
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> Simulation:
    """The runs a (checked) process action definition would have planned in the tenant's
    events from `since` to `until`, at most `limit` of them."""
    started = time.perf_counter()
    lookup = AsOf(store, ttl=60.0)
    reactor = Reactor(lookup)
    reactor.watches[tenant_id][SIMULATED] = Watch.of(tenant_id, SIMULATED, definition)
    topics = TOPICS[parse_trigger(definition["trigger"]).on]
    runs: list[SimulatedRun] = []
    replayed = 0
    with psycopg.connect(database_url, autocommit=True) as conn, ThreadPoolExecutor(1) as pool:
        head = head_position(conn)

        def window(after: int) -> list[StoredRow]:
            # A window of positions, not "the next N of these types": with a type filter,
            # PostgreSQL would sort every later event for each page (quadratic over history).
            return events_after(conn, after, WINDOW, until=after + WINDOW, types=topics)

        # The next window is read while this one is replayed (psycopg lets go of the GIL).
        start = 0
        pending = pool.submit(window, start)
        while start < head:
            rows = pending.result()
            start += WINDOW
            pending = pool.submit(window, start)
            for row in rows:
                event = decode_event(*row)
                if event.tenant_id != tenant_id:
                    continue
                if since is not None or until is not None:
                    at = event.timestamp
                    if (since is not None and at < since) or (until is not None and at > until):
                        continue
                replayed += 1
                lookup.position = event.position
                for plan in reactor.plans(event):
                    if len(runs) == limit:
                        return Simulation(runs, replayed, time.perf_counter() - started, True)
                    step = plan.context.get("step")
                    recipient = plan.context.get("recipient")
                    runs.append(
                        SimulatedRun(
                            trigger_key=plan.trigger_key,
                            planned_at=plan.planned_at,
                            action_id=plan.action_id,
                            event=event.name,
                            position=event.position,
                            record_id=event.originator_id,
                            recipient_id=UUID(recipient["id"]) if recipient else None,
                            step=step["name"] if step else None,
                            conditional=bool(step and step.get("if") is not None),
                        )
                    )
    return Simulation(runs, replayed, time.perf_counter() - started, False)


def simulator(store: EventStore, database_url: str) -> Simulate:
    """`simulate` for the read API, on a worker thread."""

    async def in_thread(
        tenant_id: UUID,
        definition: dict[str, Any],
        since: datetime | None,
        until: datetime | None,
        limit: int,
    ) -> Simulation:
        return await to_thread.run_sync(
            simulate, store, database_url, tenant_id, definition, since, until, limit
        )

    return in_thread

"""Live counts per tenant (entities, processes, open processes...), for dashboards.

Counters are increments, which cannot be guarded by an aggregate version like the other read
models: exactly-once comes from the runtime's checkpoint, which commits with the increments and
skips every event at or below it on redelivery or replay. Increments for a whole batch are summed
before they are written, so a batch costs one upsert per (tenant, kind), not one per event.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import cast
from uuid import UUID

from domain.document import Document
from domain.entity import Entity
from domain.entity_type import EntityType
from domain.group import Group
from domain.occurrence import Occurrence
from domain.participant import Participant
from domain.process import Process
from eventstore import RecordedEvent
from projections.base import Projection, Statement, event_class, handles

KINDS = (
    "entities",
    "entity_types",
    "groups",
    "participants",
    "processes",
    "open_processes",
    "occurrences",
    "documents",
)

DELTAS: dict[tuple[type, str], dict[str, int]] = {
    (Entity, "Created"): {"entities": 1},
    (Entity, "Archived"): {"entities": -1},
    (EntityType, "Defined"): {"entity_types": 1},
    (EntityType, "Retired"): {"entity_types": -1},
    (Group, "Created"): {"groups": 1},
    (Participant, "Registered"): {"participants": 1},
    (Process, "Opened"): {"processes": 1, "open_processes": 1},
    (Process, "Closed"): {"open_processes": -1},
    (Process, "Reopened"): {"open_processes": 1},
    (Occurrence, "Recorded"): {"occurrences": 1},
    (Occurrence, "Retracted"): {"occurrences": -1},
    (Document, "Attached"): {"documents": 1},
    (Document, "Removed"): {"documents": -1},
}
BY_NAME = {f"{aggregate.__name__}.{name}": deltas for (aggregate, name), deltas in DELTAS.items()}

UPSERT = (
    "INSERT INTO {schema}.counts (tenant_id, kind, n) VALUES (%s, %s, %s) "
    "ON CONFLICT (tenant_id, kind) DO UPDATE SET n = counts.n + EXCLUDED.n"
)


class CountsProjection(Projection):
    ddl = Path(__file__).with_name("schema.sql")
    tables = ("counts",)

    @handles(*(event_class(aggregate, name) for aggregate, name in DELTAS))
    def counted(self, e: RecordedEvent) -> Iterator[Statement]:
        for kind, delta in BY_NAME[e.name].items():
            yield Statement.of(UPSERT, e.tenant_id, kind, delta)

    def statements(self, events: Iterable[RecordedEvent]) -> Iterator[Statement]:
        totals: dict[tuple[UUID, str], int] = defaultdict(int)
        for statement in super().statements(events):
            tenant_id, kind, delta = cast("tuple[UUID, str, int]", statement.params)
            totals[(tenant_id, kind)] += delta
        # A zero total is still written: the row exists whatever the batching (+1 -1 → 0).
        for (tenant_id, kind), n in sorted(totals.items()):
            yield Statement.of(UPSERT, tenant_id, kind, n)

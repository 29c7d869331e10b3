"""Live per-tenant counts, for dashboards."""

from __future__ import annotations

import strawberry

from projections.counts.queries import CountReads
from read_api.types.common import Info


@strawberry.type(description="How many live objects of each kind the tenant has.")
class Counts:
    entities: int
    entity_types: int
    groups: int
    participants: int
    processes: int
    open_processes: int
    occurrences: int
    documents: int


@strawberry.type
class CountQuery:
    @strawberry.field
    async def counts(self, info: Info) -> Counts:
        found = await info.context.run(lambda reads: reads.of(CountReads).all())
        return Counts(
            entities=found.get("entities", 0),
            entity_types=found.get("entity_types", 0),
            groups=found.get("groups", 0),
            participants=found.get("participants", 0),
            processes=found.get("processes", 0),
            open_processes=found.get("open_processes", 0),
            occurrences=found.get("occurrences", 0),
            documents=found.get("documents", 0),
        )

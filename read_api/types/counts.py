"""Live per-tenant counts, for dashboards."""

from __future__ import annotations

import strawberry

from projections.counts.queries import CountReads
from read_api.types.common import Info

COUNTED: dict[str, str] = {
    "entities": "entities",
    "entity_types": "entities",
    "groups": "groups",
    "participants": "participants",
    "processes": "processes",
    "open_processes": "processes",
    "occurrences": "occurrences",
    "documents": "documents",
}
"""Each count → the read area it tells about."""


@strawberry.type(
    description="How many live objects of each kind the tenant has "
    "(null for a kind the reader's roles do not read, or read only in part)."
)
class Counts:
    entities: int | None
    entity_types: int | None
    groups: int | None
    participants: int | None
    processes: int | None
    open_processes: int | None
    occurrences: int | None
    documents: int | None


@strawberry.type
class CountQuery:
    @strawberry.field
    async def counts(self, info: Info) -> Counts:
        grants = info.context.require_viewer().grants
        found = await info.context.run(lambda reads: reads.of(CountReads).all())
        return Counts(
            **{
                # a restricted read (a row rule…) is not what the tenant-wide count counts
                name: found.get(name, 0)
                if grants.reads(area) and grants.scope(area) is None
                else None
                for name, area in COUNTED.items()
            }
        )

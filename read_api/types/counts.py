"""Live per-tenant counts, for dashboards."""

from __future__ import annotations

import strawberry

from domain.grants import Grants
from projections.counts.queries import CountReads
from projections.entities.queries import EntityReads
from read_api.session import Reads
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
    description="How many live objects of each kind the tenant has, of those the reader sees "
    "(null for a kind its roles do not read)."
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

        async def read(reads: Reads) -> dict[str, int]:
            found = await reads.of(CountReads).all()
            if grants.reads("entities") and grants.scope("entities") is not None:
                # its own count, not the tenant's
                found["entities"], found["entity_types"] = await reads.of(EntityReads).count()
            return found

        found = await info.context.run(read)
        return Counts(
            **{
                name: found.get(name, 0) if grants.reads(area) and counted(grants, area) else None
                for name, area in COUNTED.items()
            }
        )


def counted(grants: Grants, area: str) -> bool:
    """Is what the reader sees of `area` counted (every one of it, or its own count)?"""
    return grants.scope(area) is None or area in OWN_COUNTS


OWN_COUNTS = frozenset({"entities"})
"""Areas whose read model counts what a restricted reader sees (others show null to it)."""

"""Live per-tenant counts, for dashboards."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import strawberry

from projections.counts.queries import CountReads
from projections.entities.queries import EntityReads
from projections.occurrences.queries import OccurrenceReads
from projections.processes.queries import ProcessReads
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
        own = [a for a in COUNTED.values() if grants.reads(a) and grants.scope(a) is not None]

        async def read(reads: Reads) -> dict[str, int]:
            found = await reads.of(CountReads).all()
            for area in dict.fromkeys(own):  # its own counts, not the tenant's
                if (queries := OWN_COUNTS.get(area)) is not None:
                    found |= await reads.of(queries).count()
            return found

        found = await info.context.run(read)
        return Counts(
            **{
                name: found.get(name, 0)
                if grants.reads(area) and (area not in own or area in OWN_COUNTS)
                else None
                for name, area in COUNTED.items()
            }
        )


class Counting(Protocol):
    async def count(self) -> dict[str, int]: ...


OWN_COUNTS: dict[str, Callable[[Any], Counting]] = {
    "entities": EntityReads,
    "processes": ProcessReads,
    "occurrences": OccurrenceReads,
}
"""Areas whose read model counts what a reader of part of it sees (`count`); another area
read in part is null in `counts`."""

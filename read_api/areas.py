"""Which read area each read model, and each kind of object, belongs to.

A role reads an area when one of its grants says so (`read:entities`, `read:*`, `*`). The
read models of one area live in `projections/<area>/`; those that span areas (search, geo,
counts) answer per kind of object instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from domain.grants import READ_AREAS, Grants
from projections.registry import PROJECTIONS
from read_api.errors import Forbidden


def area_of(queries: Callable[..., Any]) -> str | None:
    """`projections.entities.queries.EntityReads` → entities; None for queries spanning areas."""
    parts = getattr(queries, "__module__", "").split(".")
    area = parts[1] if len(parts) > 2 and parts[0] == "projections" else ""
    return area if area in READ_AREAS else None


KIND_AREAS: dict[str, str | None] = {
    feed.kind: area_of(feed.reads) for p in PROJECTIONS.values() for feed in p.feeds
}
"""Kind of object (entity, process, …) → its read area."""
KIND_READS: dict[str, Callable[..., Any]] = {
    feed.kind: feed.reads for p in PROJECTIONS.values() for feed in p.feeds
}
"""Kind of object → its read model's queries (whose `seen` says what a restricted reader
sees of it, where the kind can be read in part)."""


RECORD_AREAS: dict[str, str] = {
    "Document": "documents",
    "Entity": "entities",
    "EntityType": "entities",
    "Group": "groups",
    "Occurrence": "occurrences",
    "Participant": "participants",
    "Process": "processes",
    "ProcessDefinition": "processes",
}
"""Kind of record (its aggregate) → its read area, for what is read from the event store."""


def record_reads(record: str) -> Callable[..., Any] | None:
    """The queries of the read model of a kind of record (`EntityType` → entity types')."""
    return KIND_READS.get(re.sub(r"(?<!^)(?=[A-Z])", "_", record).lower())


def require_kind(grants: Grants, kind: str) -> None:
    area = KIND_AREAS.get(kind)
    if area is not None and not grants.reads(area):
        raise Forbidden(f"no role of yours grants read:{area}")


def readable_kinds(grants: Grants, wanted: Sequence[str] | None, every: Sequence[str]) -> list[str]:
    """The kinds a cross-area read (search, geo) may return, of those asked for (all when
    None): asking for one the reader may not read is refused, and "all" means all it may read.
    A kind it reads only in part (a read grant with types, a row rule or hidden fields) is read
    through what its read model's `seen` shows (`Reads.seen`)."""
    if wanted is not None:
        for kind in wanted:
            require_kind(grants, kind)
        return list(wanted)
    return [k for k in every if (area := KIND_AREAS.get(k)) is None or grants.reads(area)]

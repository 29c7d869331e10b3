"""What a reader with restricted grants sees of one kind of object, for the reads that span
kinds (search, geo, documents attached to records): the ids it may see, as a query, and the
fields left out of what it sees. The kind's own read model says (`EntityReads.seen`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Seen:
    ids: str
    """SQL selecting the ids of the records it sees, with `%s` placeholders for `params`."""
    params: tuple[Any, ...]
    hidden: tuple[str, ...] = ()
    """Fields of those records it does not see."""


def only_seen(column: str, seen: Seen) -> tuple[str, tuple[Any, ...]]:
    """A predicate keeping the rows whose `column` is an id `seen` shows."""
    return f"{column} IN ({seen.ids})", seen.params

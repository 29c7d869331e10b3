"""The new state behind a change notification, loaded once however many subscribers want it.

A change is announced right after the projection that owns the object committed, so its row
is normally there at that position or later. Another projection may announce the same object
first (several can list a kind in `change_kinds`); then the row is still older than the change,
and the load waits for the owner's position (pushed, not polled) and reads again.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from uuid import UUID

from projections.notify import Change
from read_api.freshness import Watermark
from read_api.session import Reads, Session

Fetch = Callable[[Reads, list[UUID]], Awaitable[Mapping[UUID, Any]]]
FETCH: dict[str, Fetch] = {
    "entity": lambda reads, ids: reads.entities.by_ids(ids),
    "entity_type": lambda reads, ids: reads.entities.types_by_ids(ids),
    "process": lambda reads, ids: reads.processes.by_ids(ids),
    "occurrence": lambda reads, ids: reads.occurrences.by_ids(ids),
    "participant": lambda reads, ids: reads.participants.by_ids(ids),
    "group": lambda reads, ids: reads.groups.by_ids(ids),
    "document": lambda reads, ids: reads.documents.by_ids(ids),
    "action_run": lambda reads, ids: reads.action_runs.by_ids(ids),
    "action": lambda reads, ids: reads.automation.actions_by_ids(ids),
    "process_action": lambda reads, ids: reads.automation.process_actions_by_ids(ids),
    "occurrence_kind": lambda reads, ids: reads.automation.occurrence_kinds_by_ids(ids),
}
OWNER = {
    "entity": "entities",
    "entity_type": "entities",
    "process": "processes",
    "occurrence": "occurrences",
    "participant": "participants",
    "group": "groups",
    "document": "documents",
    "action_run": "automation",
    "action": "automation",
    "process_action": "automation",
    "occurrence_kind": "automation",
}
Key = tuple[str, UUID, UUID, int]


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


class SharedStates:
    def __init__(
        self,
        session: Callable[[UUID], Session],
        watermark: Watermark,
        timeout: float,
        capacity: int = 1_024,
    ) -> None:
        self.session = session
        self.watermark = watermark
        self.timeout = timeout
        self.capacity = capacity
        self._loads: OrderedDict[Key, asyncio.Task[Any]] = OrderedDict()

    async def row(self, change: Change) -> Any:
        """The object's row as of this change or later; None if it cannot be read (any more)."""
        key = (change.kind, change.tenant_id, change.id, change.position)
        task = self._loads.get(key)
        if task is None:
            task = asyncio.ensure_future(self._load(change))
            task.add_done_callback(_retrieve)  # a load nobody awaits any more must not warn
            self._loads[key] = task
            while len(self._loads) > self.capacity:
                self._loads.popitem(last=False)
        return await asyncio.shield(task)

    async def _load(self, change: Change) -> Any:
        row = await self._fetch(change)
        if row is None or row.position < change.position:
            owner = OWNER.get(change.kind)
            if owner is not None:
                await self.watermark.wait_for(change.position, self.timeout, owner)
                row = await self._fetch(change)
        return row

    async def _fetch(self, change: Change) -> Any:
        fetch = FETCH.get(change.kind)
        if fetch is None:
            return None
        async with self.session(change.tenant_id) as reads:
            found = await fetch(reads, [change.id])
        return found.get(change.id)

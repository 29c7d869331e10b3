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

from projections.base import Feed
from projections.notify import Change
from projections.registry import PROJECTIONS
from read_api.freshness import Watermark
from read_api.session import Reads, Session

Fetch = Callable[[Reads, list[UUID]], Awaitable[Mapping[UUID, Any]]]


def _fetch(feed: Feed[Any, Any]) -> Fetch:
    return lambda reads, ids: feed.by_ids(reads.of(feed.reads), ids)


FETCH: dict[str, Fetch] = {
    feed.kind: _fetch(feed) for p in PROJECTIONS.values() for feed in p.feeds
}
"""Change kind → how a "changed" message reads the object back, from the projections' feeds."""
OWNER: dict[str, str] = {feed.kind: p.name for p in PROJECTIONS.values() for feed in p.feeds}
"""Change kind → the projection whose rows hold that kind of object."""
Key = tuple[str, UUID, UUID, int]


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


class ChangedRows:
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

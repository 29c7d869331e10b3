"""One pub/sub connection per API process, fanned out to every subscription in memory.

The projection workers publish each committed batch's changes on `bsdflow:changes:<tenant>`
(one message per batch) and their new position on `bsdflow:positions`. A single connection subscribes to both (pattern for the
tenants); each message is routed to the subscribers of that tenant only, through a bounded
queue per subscriber. A subscriber that falls `queue_size` messages behind is dropped with an
error rather than buffering without limit. Leaving a subscription (client gone, operation
completed) removes its queue; `subscriber_count` shows that nothing is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from uuid import UUID

from projections.notify import POSITIONS_CHANNEL, Change, decode_changes
from read_api.errors import PublicError
from read_api.freshness import Watermark
from read_api.ports import ChangeSource

log = logging.getLogger("bsdflow.read_api.fanout")
RECENT = 4_096


class SlowConsumer(PublicError):
    """The subscriber did not keep up with its tenant's changes and was dropped."""

    code = "SLOW_CONSUMER"


@dataclass(eq=False)
class Subscriber:
    tenant_id: UUID
    kinds: frozenset[str]
    queue: asyncio.Queue[Change]
    dropped: bool = False


@dataclass
class Fanout:
    source: ChangeSource
    watermark: Watermark
    queue_size: int = 256
    _by_tenant: dict[UUID, set[Subscriber]] = field(default_factory=dict)
    _recent: OrderedDict[tuple[str, UUID, int], None] = field(default_factory=OrderedDict)
    _task: asyncio.Task[None] | None = None
    connected: bool = False
    """True while the pub/sub connection delivers: caches may rely on its invalidations."""

    @property
    def subscriber_count(self) -> int:
        return sum(len(subscribers) for subscribers in self._by_tenant.values())

    async def start(self) -> None:
        """Subscribe first, then read the checkpoints: no position can fall in between."""
        await self.source.subscribe()
        await self.watermark.sync()
        self.connected = True
        self._task = asyncio.create_task(self._pump(), name="bsdflow-fanout")

    async def close(self) -> None:
        self.connected = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.source.close()

    async def _pump(self) -> None:
        delay = 0.1
        while True:
            try:
                async for channel, payload in self.source.messages():
                    self.dispatch(channel, payload)
                    delay = 0.1
                raise ConnectionError("pub/sub stream ended")
            except asyncio.CancelledError:
                raise
            except Exception:
                self.connected = False
                log.warning("pub/sub connection lost; resubscribing", exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                with contextlib.suppress(Exception):
                    await self.source.close()
                    await self.source.subscribe()
                    await self.watermark.sync()
                    self.connected = True

    def dispatch(self, channel: str, payload: bytes) -> None:
        """Route one message; changes before positions, as the worker published them."""
        try:
            if channel == POSITIONS_CHANNEL:
                self.watermark.on_message(payload)
                return
            changes = decode_changes(payload)
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed message on %s: %r", channel, payload[:200])
            return
        for change in changes:
            self._route(change)

    def _route(self, change: Change) -> None:
        seen = (change.kind, change.id, change.position)
        if seen in self._recent:  # several projections may announce the same change
            return
        self._recent[seen] = None
        if len(self._recent) > RECENT:
            self._recent.popitem(last=False)
        for subscriber in list(self._by_tenant.get(change.tenant_id, ())):
            if change.kind not in subscriber.kinds:
                continue
            try:
                subscriber.queue.put_nowait(change)
            except asyncio.QueueFull:
                subscriber.dropped = True
                self._remove(subscriber)

    @contextlib.asynccontextmanager
    async def subscribe(
        self, tenant_id: UUID, kinds: Iterable[str]
    ) -> AsyncIterator[AsyncIterator[list[Change]]]:
        """The tenant's changes of `kinds`, in order, in batches of all that were waiting."""
        subscriber = Subscriber(tenant_id, frozenset(kinds), asyncio.Queue(self.queue_size))
        self._by_tenant.setdefault(tenant_id, set()).add(subscriber)
        try:
            yield self._changes(subscriber)
        finally:
            self._remove(subscriber)

    async def _changes(self, subscriber: Subscriber) -> AsyncIterator[list[Change]]:
        while True:
            if subscriber.dropped:
                raise SlowConsumer(
                    f"more than {self.queue_size} changes were waiting for this subscription"
                )
            batch = [await subscriber.queue.get()]
            while not subscriber.queue.empty():
                batch.append(subscriber.queue.get_nowait())
            yield batch

    def _remove(self, subscriber: Subscriber) -> None:
        subscribers = self._by_tenant.get(subscriber.tenant_id)
        if subscribers is None:
            return
        subscribers.discard(subscriber)
        if not subscribers:
            del self._by_tenant[subscriber.tenant_id]

"""Read-your-writes: wait until the read models have applied a given event-store position.

The watermark holds each projection's last applied position in this process. It starts from
the checkpoint tables and is then pushed forward by the workers' `bsdflow:positions` messages
(see `projections/notify.py`), so a waiting request is woken by the commit itself, never by
polling. A wait that times out re-reads the checkpoints once (a lost pub/sub message must not
turn into a false timeout) and then says it timed out.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import orjson

from read_api.ports import CheckpointReader

RESYNC_SECONDS = 1.0
FLOOR = ""
"""Scope name for "every projection" (the minimum over all of them)."""


@dataclass(frozen=True, slots=True)
class Freshness:
    """What a request asked for and got; reported under `extensions.freshness`."""

    position: int
    timed_out: bool
    reached: int

    def as_extension(self) -> dict[str, int | bool]:
        return {"position": self.position, "timedOut": self.timed_out, "reached": self.reached}


class Watermark:
    def __init__(self, projections: Iterable[str], read_checkpoints: CheckpointReader) -> None:
        self.positions: dict[str, int] = dict.fromkeys(projections, 0)
        self._read_checkpoints = read_checkpoints
        self._waiters: dict[str, list[tuple[int, int, asyncio.Future[None]]]] = {}
        self._order = itertools.count()
        self.generation = 0
        self._synced_at = 0.0
        """Bumped by every commit that moved a projection: what was read before may be stale."""

    def floor(self, projection: str = FLOOR) -> int:
        """The position that `projection` (or, by default, every projection) has reached."""
        if projection != FLOOR:
            return self.positions.get(projection, 0)
        return min(self.positions.values(), default=0)

    def advance(self, projection: str, position: int) -> None:
        if position <= self.positions.get(projection, 0):
            return
        self.positions[projection] = position
        self.generation += 1
        self._wake(projection)
        self._wake(FLOOR)

    def advance_all(self, positions: Mapping[str, int]) -> None:
        for projection, position in positions.items():
            self.advance(projection, position)

    def on_message(self, payload: bytes) -> None:
        """A `bsdflow:positions` message: {"positions": {name: position, …}}."""
        positions = orjson.loads(payload)["positions"]
        self.advance_all({str(name): int(at) for name, at in positions.items()})

    async def sync(self) -> None:
        """Catch up from the checkpoint tables (at start, and after a lost connection)."""
        self.generation += 1
        self._synced_at = time.monotonic()
        self.advance_all(await self._read_checkpoints())

    async def _check(self) -> None:
        """After a timed-out wait: re-read the checkpoints, at most once a second (a stalled
        projection must not turn every waiting request into a database query)."""
        if time.monotonic() - self._synced_at >= RESYNC_SECONDS:
            await self.sync()

    async def wait_for(self, position: int, within: float, projection: str = FLOOR) -> Freshness:
        """Wait up to `within` seconds until `projection` (default: all) reaches `position`."""
        if self.floor(projection) >= position:
            return Freshness(position, False, self.floor(projection))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (position, next(self._order), future)
        heap = self._waiters.setdefault(projection, [])
        heapq.heappush(heap, entry)
        try:
            await asyncio.wait_for(asyncio.shield(future), within)
        except TimeoutError:
            self._forget(heap, entry)
            await self._check()
        except BaseException:
            self._forget(heap, entry)  # the client went away while waiting
            raise
        reached = self.floor(projection)
        return Freshness(position, reached < position, reached)

    @staticmethod
    def _forget(
        heap: list[tuple[int, int, asyncio.Future[None]]],
        entry: tuple[int, int, asyncio.Future[None]],
    ) -> None:
        """Unreachable positions must not pile up: drop the waiter now, not when reached."""
        entry[2].cancel()
        if entry in heap:
            heap.remove(entry)
            heapq.heapify(heap)

    def _wake(self, scope: str) -> None:
        heap = self._waiters.get(scope)
        if not heap:
            return
        reached = self.floor(scope)
        while heap and (heap[0][0] <= reached or heap[0][2].done()):
            _, _, future = heapq.heappop(heap)
            if not future.done():
                future.set_result(None)

    @property
    def waiting(self) -> int:
        return sum(1 for heap in self._waiters.values() for *_, f in heap if not f.done())

"""Freshness: how long after a command's HTTP answer its change reaches each subscriber.

A command's answer carries its `position`; a subscription message carries the position of the
change it announces. The two meet here whichever comes first: under load the push can beat
the HTTP answer to the client, and that counts as zero, not as a negative time.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from loadtest.metrics import Series

EARLY_LIMIT = 50_000


@dataclass
class Pending:
    answered_at: float
    waiting: set[int]


@dataclass
class FreshnessTracker:
    series: Series
    origin: float
    """The loop time the measured phase started; samples are placed relative to it."""
    carriers: dict[str, set[int]] = field(default_factory=dict)
    """stream → the subscribers expected to deliver its changes."""
    pending: dict[int, Pending] = field(default_factory=dict)
    early: OrderedDict[int, dict[int, float]] = field(default_factory=OrderedDict)
    """position → {subscriber: arrival} for messages that came before the HTTP answer (or
    announce changes made by someone else, which no one will ever claim)."""

    def expect(self, carriers: dict[str, set[int]]) -> None:
        self.carriers = carriers

    def committed(self, position: int, stream: str, answered_at: float) -> None:
        waiting = set(self.carriers.get(stream, ()))
        if not waiting:
            return
        for subscriber, arrived in self.early.pop(position, {}).items():
            if subscriber in waiting:
                waiting.discard(subscriber)
                self._sample(answered_at, max(0.0, arrived - answered_at))
        if waiting:
            self.pending[position] = Pending(answered_at, waiting)

    def message(self, subscriber: int, stream: str, position: int, arrived: float) -> None:
        pending = self.pending.get(position)
        if pending is None:
            self.early.setdefault(position, {})[subscriber] = arrived
            if len(self.early) > EARLY_LIMIT:
                self.early.popitem(last=False)
            return
        if subscriber in pending.waiting:
            pending.waiting.discard(subscriber)
            self._sample(pending.answered_at, arrived - pending.answered_at)
            if not pending.waiting:
                del self.pending[position]

    def forget(self, subscriber: int) -> None:
        """A connection that closed will deliver nothing more; its absence is an error of the
        connection (counted there), not a missed message."""
        for carriers in self.carriers.values():
            carriers.discard(subscriber)
        for position in list(self.pending):
            self.pending[position].waiting.discard(subscriber)
            if not self.pending[position].waiting:
                del self.pending[position]

    @property
    def outstanding(self) -> int:
        return sum(len(p.waiting) for p in self.pending.values())

    async def drain(self, grace: float, closed: Callable[[], Iterable[int]]) -> None:
        """Wait up to `grace` seconds for messages still on their way."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while True:
            for subscriber in closed():
                self.forget(subscriber)
            if not self.outstanding or loop.time() >= deadline:
                return
            await asyncio.sleep(0.02)

    def _sample(self, answered_at: float, latency: float) -> None:
        self.series.ok.append((answered_at - self.origin, latency))

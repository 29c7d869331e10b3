"""When a scheduler tick is worth its queries, and when the scheduler may skip it.

A working tick renews the lease and reads the read model (recurring actions, due runs, stuck
attempts): four queries and ≈ 2 ms of CPU, which five times a second was the largest share of
an idle `bsdflow up`'s Python. Nothing can fall due unseen between two ticks unless the event
log grew (a run was planned, retried or cancelled), a known due time came, or the clock moved
other than by real time (tests move it); so with a change counter (the events topic's doorbell
rings) the scheduler skips ticks while none of that happened, and still works at least every
`idle_tick` seconds: lease heartbeat, recurring planning (well inside its horizon), the stuck
attempt sweep, and a ring that was lost.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

CLOCK_JUMP_SECONDS = 1.0
"""A clock that moved this much more (or less) than real time between two ticks jumped."""


@dataclass
class Pace:
    changes: Callable[[], int] | None
    """A counter that moves whenever the event log grows; None: work every tick."""
    idle_tick: float = 5.0
    """At most this many seconds between working ticks."""
    linger: float = 2.0
    """Keep working every tick this long after a change: what it wakes reaches the read
    model a little later (relay → projection), and plans what falls due at once."""
    _seen: int | None = None
    _changed_at: float = -math.inf
    _worked_at: float = -math.inf
    _next_due: datetime | None = None
    _last: tuple[datetime, float] | None = field(default=None, repr=False)

    def should_work(self, now: datetime, *, busy: bool) -> bool:
        """`busy`: not leading, runs in flight, or outcomes to record — work as before."""
        real = time.monotonic()
        jumped = self._jumped(now, real)
        if self.changes is None or busy or jumped:
            return True
        count = self.changes()
        if count != self._seen:
            self._seen, self._changed_at = count, real
        return (
            real - self._changed_at < self.linger
            or real - self._worked_at >= self.idle_tick
            or (self._next_due is not None and now >= self._next_due)
        )

    def worked(self, next_due: datetime | None) -> None:
        """After a working tick: the earliest run still waiting (None: none known)."""
        self._worked_at = time.monotonic()
        self._next_due = next_due

    def _jumped(self, now: datetime, real: float) -> bool:
        last, self._last = self._last, (now, real)
        if last is None:
            return False
        moved = (now - last[0]).total_seconds()
        return abs(moved - (real - last[1])) > CLOCK_JUMP_SECONDS

"""The relay's rings: one at once after a quiet spell, then at most one per interval, and
always one after the last production (a paused consumer must never sleep through an event)."""

from __future__ import annotations

from typing import Any, cast

from infra.doorbell import Doorbell, ThrottledRing


class Bell:
    def __init__(self) -> None:
        self.rings: list[float] = []
        self.now = 100.0

    def ring(self, *topics: str) -> None:
        self.rings.append(self.now)


def ringer() -> tuple[ThrottledRing, Bell]:
    bell = Bell()
    return ThrottledRing(cast("Doorbell", bell), "t", 0.05, clock=lambda: bell.now), bell


def test_the_first_production_rings_at_once() -> None:
    ring, bell = ringer()
    ring.produced()
    assert bell.rings == [100.0]
    assert ring.due_in() is None


def test_a_steady_stream_rings_once_per_interval_and_once_after_the_last() -> None:
    ring, bell = ringer()
    for _ in range(90):  # 1 ms apart, for 90 ms
        ring.produced()
        bell.now += 0.001
    assert len(bell.rings) == 2  # at 100.0 and about 100.05
    due: Any = ring.due_in()
    assert due is not None  # the last ones are still owed a ring
    assert 0 < due <= 0.05
    ring.settle()
    assert len(bell.rings) == 2  # not yet due
    bell.now += due + 1e-9
    ring.settle()
    assert len(bell.rings) == 3
    assert ring.due_in() is None
    ring.settle()
    assert len(bell.rings) == 3

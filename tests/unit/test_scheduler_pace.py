"""When the scheduler may skip a tick's queries (automation/pace.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from automation.pace import Pace

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


class Real:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def real(monkeypatch: pytest.MonkeyPatch) -> Real:
    clock = Real()
    monkeypatch.setattr("automation.pace.time.monotonic", clock)
    return clock


def settled(real: Real, rings: list[int]) -> Pace:
    """A pace that worked once and has seen no change for longer than it lingers."""
    pace = Pace(lambda: rings[0], idle_tick=5.0, linger=2.0)
    assert pace.should_work(NOW, busy=False)  # the first change seen: lingers
    pace.worked(None)
    real.now += 3.0
    return pace


def test_without_a_change_counter_every_tick_works(real: Real) -> None:
    pace = Pace(None)
    pace.worked(None)
    assert pace.should_work(NOW, busy=False)


def test_nothing_changed_skips_until_the_idle_tick(real: Real) -> None:
    pace = settled(real, [0])
    assert not pace.should_work(NOW + timedelta(seconds=3), busy=False)
    real.now += 2.1  # 5.1 s since it worked
    assert pace.should_work(NOW + timedelta(seconds=5.1), busy=False)


def test_a_ring_works_at_once_and_for_the_linger_after_it(real: Real) -> None:
    rings = [0]
    pace = settled(real, rings)
    rings[0] += 1
    assert pace.should_work(NOW + timedelta(seconds=3), busy=False)
    pace.worked(None)
    real.now += 1.5
    assert pace.should_work(NOW + timedelta(seconds=4.5), busy=False)
    real.now += 1.0
    assert not pace.should_work(NOW + timedelta(seconds=5.5), busy=False)


def test_a_known_due_time_works_when_it_comes(real: Real) -> None:
    pace = settled(real, [0])
    pace.worked(NOW + timedelta(seconds=4))
    real.now += 0.2
    assert not pace.should_work(NOW + timedelta(seconds=3.2), busy=False)
    real.now += 1.0
    assert pace.should_work(NOW + timedelta(seconds=4.2), busy=False)


def test_busy_or_a_clock_jump_works(real: Real) -> None:
    pace = settled(real, [0])
    assert pace.should_work(NOW + timedelta(seconds=3), busy=True)
    real.now += 0.2
    assert pace.should_work(NOW + timedelta(hours=1), busy=False)  # a test moved the clock
    real.now += 0.2
    assert not pace.should_work(NOW + timedelta(hours=1, seconds=0.2), busy=False)

"""What to do with fire times missed while the scheduler was down, and retry pacing."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, cast

from domain.errors import InvalidInput
from domain.schedules.durations import Duration, Path, parse_duration
from domain.schedules.reading import check_keys

Policy = Literal["skip", "once", "all"]
POLICIES: tuple[Policy, ...] = ("skip", "once", "all")
_MAX_EXPONENT = 1000  # 2.0**1000 is still a finite float; beyond, the cap applies anyway.


@dataclass(frozen=True)
class CatchUp:
    """skip: drop every missed time; once: fire the latest recent one; all: fire recent ones.

    "Recent" means within `window` before now: a reminder hours late is usually worse than
    none, so older times are always skipped.
    """

    policy: Policy = "once"
    window: timedelta = timedelta(hours=1)

    def select(
        self, missed: Sequence[datetime], now: datetime
    ) -> tuple[list[datetime], list[datetime]]:
        """(to fire, to skip), both in time order."""
        ordered = sorted(missed)
        if self.policy == "skip":
            return [], ordered
        first_recent = bisect_left(ordered, now - self.window)
        if self.policy == "all":
            return ordered[first_recent:], ordered[:first_recent]
        if first_recent == len(ordered):
            return [], ordered
        return ordered[-1:], ordered[:-1]

    def to_json(self) -> dict[str, object]:
        return {"policy": self.policy, "window": Duration(exact=self.window).to_iso()}


DEFAULT_CATCH_UP = CatchUp()


def parse_catch_up(raw: object, path: Path = ("catch_up",)) -> CatchUp:
    """Absent (None) means the default: fire the latest time missed within the last hour."""
    if raw is None:
        return DEFAULT_CATCH_UP
    if not isinstance(raw, Mapping):
        raise InvalidInput("must be an object", path)
    check_keys(raw, ("policy", "window"), path)
    policy = raw.get("policy", DEFAULT_CATCH_UP.policy)
    if policy not in POLICIES:
        raise InvalidInput(f"must be one of {', '.join(POLICIES)}", (*path, "policy"))
    window = DEFAULT_CATCH_UP.window
    if raw.get("window") is not None:
        window = parse_duration(raw["window"], (*path, "window"))
        if window < timedelta(0):
            raise InvalidInput("must not be negative", (*path, "window"))
    return CatchUp(cast("Policy", policy), window)


def backoff_delay(attempt: int, base: float, cap: float, jitter: float) -> float:
    """Seconds before retry `attempt` (1-based): exponential, capped, then jittered.

    The caller supplies `jitter` in [0, 1) so this stays deterministic and testable; the
    delay lands in [half, full] of the capped value, spreading retries of a burst apart.
    """
    if attempt < 1:
        raise ValueError("attempt starts at 1")
    if base < 0 or cap < 0:
        raise ValueError("base and cap must not be negative")
    if not 0 <= jitter < 1:
        raise ValueError("jitter must be in [0, 1)")
    exponential = base * 2.0 ** min(attempt - 1, _MAX_EXPONENT)
    return min(cap, exponential) * (0.5 + jitter / 2)

"""Local wall-clock time to UTC instants, with one rule for DST gaps and overlaps.

Recurrences are computed on naive local times (09:00 stays 09:00 all year) and only then
turned into instants here: a time skipped by spring-forward fires at the first valid instant
after the gap; a time repeated by fall-back fires once, at its first occurrence (fold=0).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def is_timezone(name: object) -> bool:
    return isinstance(name, str) and name in _known_zones()


def load_zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)  # ZoneInfo keeps its own cache of loaded zones.


def as_utc(moment: datetime, what: str = "datetime") -> datetime:
    """Naive datetimes are a programming error here: guessing their zone shifts by hours."""
    if moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")
    return moment.astimezone(UTC)


def wall(moment: datetime, tz: ZoneInfo) -> datetime:
    """The naive local wall-clock reading of an aware instant."""
    return moment.astimezone(tz).replace(tzinfo=None)


def localise(local: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant a naive local time fires at.

    Monotone: a later local time never maps to an earlier instant, which lets callers filter
    "strictly after" by comparing instants.
    """
    first = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if wall(first, tz) == local:
        return first  # Exists; if ambiguous, fold=0 is the first occurrence.
    return _end_of_gap(local, tz)


def _end_of_gap(local: datetime, tz: ZoneInfo) -> datetime:
    """The transition instant that skipped `local`: the first valid instant after the gap."""
    readings = (
        local.replace(tzinfo=tz, fold=0).astimezone(UTC),
        local.replace(tzinfo=tz, fold=1).astimezone(UTC),
    )
    # The transition lies between the two readings; offsets change on whole seconds.
    low = int(min(readings).timestamp())
    high = int(max(readings).timestamp()) + 1
    before = _offset(low, tz)
    while high - low > 1:
        middle = (low + high) // 2
        if _offset(middle, tz) == before:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


def _offset(epoch_seconds: int, tz: ZoneInfo) -> timedelta | None:
    return datetime.fromtimestamp(epoch_seconds, tz).utcoffset()

"""Dates in rules: every operand becomes a UTC instant before it is compared.

Naive values (a bare `YYYY-MM-DD`, or a datetime without offset) are wall-clock times in the
tenant's timezone. "Today" is the tenant's local day, so `{"today": 1}` on the day clocks spring
forward is 23 hours after `{"today": 0}`, not 24.

Instants are compared in UTC on purpose: Python compares two datetimes that share a tzinfo by
wall clock, ignoring `fold`, which is wrong across a fall-back hour.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from domain.rules.values import to_number

# {"today": N} and day counts beyond a century are certainly mistakes (and overflow `date`).
MAX_DAYS = 36_500


@lru_cache(maxsize=256)
def zone_named(name: str) -> ZoneInfo:
    """Raises ZoneInfoNotFoundError (a KeyError) or ValueError for an unknown name."""
    return ZoneInfo(name)


@lru_cache(maxsize=4096)
def parse_moment(text: str) -> datetime | None:
    """An ISO date or datetime: aware results are in UTC, naive ones are local wall-clock time.

    Cached: the same few literals and stored field values are parsed over and over.
    """
    if not 8 <= len(text) <= 40:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        return None


def is_moment_text(value: object) -> bool:
    return isinstance(value, str) and parse_moment(value) is not None


def to_instant(value: object, zone: ZoneInfo) -> datetime | None:
    """None for anything that is not a date, a datetime or an ISO string of one."""
    if isinstance(value, str):
        moment = parse_moment(value)
        if moment is None:
            return None
    elif isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    else:
        return None
    if moment.tzinfo is UTC:
        return moment
    try:
        if moment.tzinfo is None:
            return moment.replace(tzinfo=zone).astimezone(UTC)
        return moment.astimezone(UTC)
    except OverflowError:
        return None


def start_of_local_day(now: datetime, zone: ZoneInfo, days: int) -> datetime:
    """First instant of the local day `days` after today, in UTC.

    A midnight that does not exist (a DST gap at 00:00) resolves, with fold=0, to the offset in
    force before the gap, which is exactly the instant the day starts.
    """
    day = now.astimezone(zone).date() + timedelta(days=days)
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def whole_days(value: object) -> int | None:
    """A day count for within_*_days: a non-negative whole number up to MAX_DAYS."""
    days = to_number(value)
    if days is None or math.isnan(days) or not 0 <= days <= MAX_DAYS or int(days) != days:
        return None
    return int(days)


def within_last_days(value: object, days: object, now: datetime, zone: ZoneInfo) -> bool:
    """value ∈ [start of the local day `days` ago, now]; `now` is in UTC."""
    moment = to_instant(value, zone)
    count = whole_days(days)
    if moment is None or count is None:
        return False
    return start_of_local_day(now, zone, -count) <= moment <= now


def within_next_days(value: object, days: object, now: datetime, zone: ZoneInfo) -> bool:
    """value ∈ [now, end of the local day `days` ahead]; `now` is in UTC."""
    moment = to_instant(value, zone)
    count = whole_days(days)
    if moment is None or count is None:
        return False
    return now <= moment < start_of_local_day(now, zone, count + 1)

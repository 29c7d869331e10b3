"""Business time: a tenant's working hours and holidays, in its timezone.

An SLA of "4 working hours" entered on Friday at 16:00 with hours 09:00-17:00 on weekdays is due
on Monday at 12:00 (a holiday on that Monday moves it to Tuesday). Working hours are wall-clock
times of the tenant's zone, so a DST change shortens or lengthens that day's working time as a
clock on the office wall would.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from domain.errors import InvalidInput
from domain.schedules.wallclock import localise

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_WORKING_HOURS: dict[str, list[str]] = {
    **{day: ["09:00-17:00"] for day in DAYS[:5]},
    "sat": [],
    "sun": [],
}
_SPAN = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])$")
MAX_HOLIDAYS = 2_000
MAX_SEARCH_DAYS = 3_660
"""How far ahead a deadline is looked for: ten years of calendar days."""

Span = tuple[time, time | None]
"""A working span of a day; None as its end is midnight at the end of the day."""


@dataclass(frozen=True)
class BusinessCalendar:
    zone: ZoneInfo
    spans: tuple[tuple[Span, ...], ...]
    """Per weekday, Monday first."""
    holidays: frozenset[date] = frozenset()

    @classmethod
    def of(cls, settings: Mapping[str, Any]) -> BusinessCalendar:
        """The calendar of a tenant's (checked) settings."""
        return cls(
            ZoneInfo(str(settings.get("timezone", "UTC"))),
            parse_working_hours(settings.get("working_hours", DEFAULT_WORKING_HOURS)),
            frozenset(parse_holidays(settings.get("holidays", []))),
        )

    def add(self, start: datetime, work: timedelta) -> datetime:
        """The instant `work` of working time after `start`."""
        left = work
        for begin, end in self._working_after(start):
            length = end - begin
            if left <= length:
                return begin + left
            left -= length
        raise InvalidInput(f"no deadline within {MAX_SEARCH_DAYS} days: too few working hours")

    def working_between(self, start: datetime, end: datetime) -> timedelta:
        """The working time from `start` to `end` (zero if `end` is not later)."""
        total = timedelta(0)
        for begin, finish in self._working_after(start):
            if begin >= end:
                break
            total += min(finish, end) - begin
        return total

    def _working_after(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The working intervals from `start` on, in UTC, in order."""
        start = start.astimezone(UTC)
        day = start.astimezone(self.zone).date()
        for offset in range(MAX_SEARCH_DAYS):
            current = day + timedelta(days=offset)
            if current in self.holidays:
                continue
            for span_start, span_end in self.spans[current.weekday()]:
                begin = localise(datetime.combine(current, span_start), self.zone)
                if span_end is None:
                    ends = datetime.combine(current + timedelta(days=1), time(0))
                else:
                    ends = datetime.combine(current, span_end)
                finish = localise(ends, self.zone)
                begin = max(begin, start)
                if finish > begin:
                    yield begin, finish


def parse_working_hours(raw: object) -> tuple[tuple[Span, ...], ...]:
    """`{"mon": ["09:00-12:00", "13:00-17:00"], …, "sun": []}`; days left out have none."""
    path = ("settings", "working_hours")
    if not isinstance(raw, Mapping):
        raise InvalidInput('working hours are like {"mon": ["09:00-17:00"], …}', path)
    unknown = sorted(set(raw) - set(DAYS))
    if unknown:
        raise InvalidInput(f"unknown day {unknown[0]!r}; days are {', '.join(DAYS)}", path)
    week: list[tuple[Span, ...]] = []
    for day in DAYS:
        given = raw.get(day, [])
        if not isinstance(given, list):
            raise InvalidInput('a list of spans like "09:00-17:00"', (*path, day))
        spans: list[Span] = []
        for i, text in enumerate(given):
            found = _SPAN.match(text) if isinstance(text, str) else None
            if found is None:
                raise InvalidInput(
                    'a span like "09:00-17:00" (24:00 ends the day)', (*path, day, i)
                )
            h1, m1, h2, m2 = (int(g) for g in found.groups())
            if h2 == 24 and m2:
                raise InvalidInput("a day ends at 24:00", (*path, day, i))
            begin, end = time(h1, m1), None if h2 == 24 else time(h2, m2)
            if end is not None and end <= begin:
                raise InvalidInput("a span ends after it starts", (*path, day, i))
            previous_end = spans[-1][1] if spans else time(0)
            if spans and (previous_end is None or begin < previous_end):
                raise InvalidInput("spans are in order and do not overlap", (*path, day, i))
            spans.append((begin, end))
        week.append(tuple(spans))
    if not any(week):
        raise InvalidInput("at least one day needs working hours", path)
    return tuple(week)


def parse_holidays(raw: object) -> list[date]:
    path = ("settings", "holidays")
    if not isinstance(raw, list) or len(raw) > MAX_HOLIDAYS:
        raise InvalidInput(f"a list of at most {MAX_HOLIDAYS} dates like 2026-12-25", path)
    days: list[date] = []
    for i, text in enumerate(raw):
        try:
            if not isinstance(text, str) or len(text) != 10:
                raise ValueError(text)
            days.append(date.fromisoformat(text))
        except ValueError:
            raise InvalidInput("a date like 2026-12-25", (*path, i)) from None
    return days

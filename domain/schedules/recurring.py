"""Schedules that keep firing: cron, RRULE and fixed intervals.

Cron and RRULE are iterated on naive local times and localised afterwards. croniter's own
timezone support fires twice in the fall-back hour (it walks instants, not wall times), so it
only ever sees naive datetimes here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, CroniterError, croniter  # type: ignore[import-untyped]

from domain.errors import InvalidInput
from domain.schedules.base import Schedule
from domain.schedules.durations import Duration, Path, parse_iso_duration
from domain.schedules.reading import read_instant, read_text, required
from domain.schedules.rrules import ANCHOR, check_rrule, compile_rrule
from domain.schedules.wallclock import localise, wall

MIN_INTERVAL = timedelta(minutes=1)
_ELAPSED_ANCHOR = ANCHOR.replace(tzinfo=UTC)


@dataclass(frozen=True, kw_only=True)
class Cron(Schedule):
    """Five-field cron (minute hour day month weekday) read as local wall-clock time."""

    type_name: ClassVar[str] = "cron"
    recurring: ClassVar[bool] = True
    cron: str

    @classmethod
    def from_json(cls, raw: Mapping[str, object], path: Path) -> Cron:
        text = read_text(required(raw, "cron", path), (*path, "cron"), 200)
        _check_cron(text, (*path, "cron"))
        return cls(cron=text)

    def _json_fields(self) -> dict[str, object]:
        return {"cron": self.cron}

    def _occurrences(self, after: datetime, tz: ZoneInfo) -> Iterator[datetime]:
        local = wall(after, tz)
        ticks = croniter(self.cron, local)
        last = after
        while True:
            try:
                naive: datetime = ticks.get_next(datetime)
            except (CroniterBadDateError, OverflowError):
                return
            moment = localise(naive, tz)
            # Several local times inside one DST gap all map to its end: fire once.
            if moment > last:
                yield moment
                last = moment


def _check_cron(text: str, path: Path) -> None:
    fields = text.split()
    if not text.startswith("@") and len(fields) != 5:
        if len(fields) in {6, 7}:
            raise InvalidInput(
                "not a valid cron expression: seconds and years are not supported; "
                "use 5 fields (minute hour day month weekday)",
                path,
            )
        raise InvalidInput(
            "not a valid cron expression: expected 5 fields (minute hour day month weekday)",
            path,
        )
    try:
        croniter(text, ANCHOR).get_next(datetime)
    except CroniterBadDateError:
        raise InvalidInput("not a valid cron expression: it never fires", path) from None
    except (CroniterError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise InvalidInput(f"not a valid cron expression: {error}", path) from None


@dataclass(frozen=True, kw_only=True)
class RRule(Schedule):
    """An RFC 5545 recurrence rule (one RRULE line) read as local wall-clock time."""

    type_name: ClassVar[str] = "rrule"
    recurring: ClassVar[bool] = True
    rrule: str

    @classmethod
    def from_json(cls, raw: Mapping[str, object], path: Path) -> RRule:
        text = read_text(required(raw, "rrule", path), (*path, "rrule"), 600)
        check_rrule(text, (*path, "rrule"))
        return cls(rrule=text)

    def _json_fields(self) -> dict[str, object]:
        return {"rrule": self.rrule}

    def _occurrences(self, after: datetime, tz: ZoneInfo) -> Iterator[datetime]:
        local = wall(after, tz)
        last = after
        for naive in compile_rrule(self.rrule).restart_before(local):
            if naive <= local:
                continue  # Cheap skip: localising never moves a time past `after`.
            moment = localise(naive, tz)
            if moment > last:
                yield moment
                last = moment


@dataclass(frozen=True, kw_only=True)
class Interval(Schedule):
    """Every fixed step from `start` (default 2000-01-01 00:00).

    Whole days or weeks ("P1D") step on the local calendar, so a daily 09:00 stays at 09:00
    across DST; hours, minutes and seconds ("PT15M") are elapsed time, anchored in UTC.
    """

    type_name: ClassVar[str] = "interval"
    recurring: ClassVar[bool] = True
    every: Duration
    start: datetime | None = None

    @classmethod
    def from_json(cls, raw: Mapping[str, object], path: Path) -> Interval:
        every = parse_iso_duration(required(raw, "every", path), (*path, "every"))
        if every.days and every.exact:
            raise InvalidInput(
                "use either whole days/weeks (same local time) or hours/minutes/seconds, not both",
                (*path, "every"),
            )
        if every.negative or (not every.days and every.exact < MIN_INTERVAL):
            raise InvalidInput("must be at least PT1M", (*path, "every"))
        start = raw.get("start")
        if start is None:
            return cls(every=every)
        return cls(every=every, start=read_instant(start, (*path, "start")))

    def _json_fields(self) -> dict[str, object]:
        out: dict[str, object] = {"every": self.every.to_iso()}
        if self.start is not None:
            out["start"] = self.start.isoformat()
        return out

    def _occurrences(self, after: datetime, tz: ZoneInfo) -> Iterator[datetime]:
        try:
            if self.every.days:
                yield from self._on_calendar(after, tz)
            else:
                yield from self._elapsed(after)
        except OverflowError:
            return  # Past year 9999.

    def _elapsed(self, after: datetime) -> Iterator[datetime]:
        anchor = _ELAPSED_ANCHOR if self.start is None else self.start.astimezone(UTC)
        step = self.every.exact
        index = 0 if after < anchor else (after - anchor) // step + 1
        moment = anchor + step * index
        while True:
            yield moment
            moment += step

    def _on_calendar(self, after: datetime, tz: ZoneInfo) -> Iterator[datetime]:
        anchor = ANCHOR if self.start is None else wall(self.start, tz)
        step = timedelta(days=self.every.days)
        index = max(0, (wall(after, tz) - anchor) // step)
        last = after
        while True:
            if index == 0 and self.start is not None:
                moment = self.start.astimezone(UTC)  # Exactly as written, even in a DST overlap.
            else:
                moment = localise(anchor + step * index, tz)
            if moment > last:
                yield moment
                last = moment
            index += 1

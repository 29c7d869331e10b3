"""Schedules that fire once per trigger: immediately, at a fixed instant, or relative."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from domain.errors import InvalidInput
from domain.schedules.base import Schedule
from domain.schedules.durations import Duration, Path, parse_iso_duration
from domain.schedules.reading import read_instant, read_text, required
from domain.schedules.wallclock import as_utc, localise, wall

TRIGGER = "trigger"
_FIELD_PATH = re.compile(r"data\.[a-z][a-z0-9_]{0,62}")
_DATE_SHAPE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MAX_VALUE_LENGTH = 64


@dataclass(frozen=True, kw_only=True)
class Immediate(Schedule):
    type_name: ClassVar[str] = "immediate"

    @classmethod
    def from_json(cls, raw: Mapping[str, object], path: Path) -> Immediate:
        return cls()

    def first_time(
        self, trigger_time: datetime, data: Mapping[str, Any], tenant_tz: str
    ) -> datetime | None:
        return as_utc(trigger_time, "trigger_time")


@dataclass(frozen=True, kw_only=True)
class At(Schedule):
    type_name: ClassVar[str] = "at"
    at: datetime

    @classmethod
    def from_json(cls, raw: Mapping[str, object], path: Path) -> At:
        return cls(at=read_instant(required(raw, "at", path), (*path, "at")))

    def _json_fields(self) -> dict[str, object]:
        return {"at": self.at.isoformat()}

    def first_time(
        self, trigger_time: datetime, data: Mapping[str, Any], tenant_tz: str
    ) -> datetime | None:
        return self.at.astimezone(UTC)


@dataclass(frozen=True, kw_only=True)
class Relative(Schedule):
    """An offset from the trigger or from a date/datetime field of the data.

    Days of the offset are added on the local calendar (the day before 09:00 is 09:00, even
    across a DST change); hours, minutes and seconds are elapsed time. A date field means
    local midnight.
    """

    type_name: ClassVar[str] = "relative"
    to: str
    offset: Duration = field(default_factory=Duration)

    @classmethod
    def from_json(cls, raw: Mapping[str, object], path: Path) -> Relative:
        to = read_text(required(raw, "to", path), (*path, "to"), 80)
        if to != TRIGGER and not _FIELD_PATH.fullmatch(to):
            raise InvalidInput('must be "trigger" or "data.<field>"', (*path, "to"))
        offset = raw.get("offset")
        if offset is None:
            return cls(to=to)
        return cls(to=to, offset=parse_iso_duration(offset, (*path, "offset")))

    def _json_fields(self) -> dict[str, object]:
        return {"to": self.to, "offset": self.offset.to_iso()}

    def fields_used(self) -> set[str]:
        return set() if self.to == TRIGGER else {self.to}

    def first_time(
        self, trigger_time: datetime, data: Mapping[str, Any], tenant_tz: str
    ) -> datetime | None:
        base: date | None
        if self.to == TRIGGER:
            base = as_utc(trigger_time, "trigger_time")
        else:
            base = _moment_value(_lookup(data, self.to))
        if base is None:
            return None
        try:
            return _shift(base, self.offset, self.zone(tenant_tz))
        except OverflowError:
            return None  # A date near year 1 or 9999 has no representable fire time.


def _lookup(data: Mapping[str, Any], dotted: str) -> object:
    value: object = data
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _moment_value(value: object) -> date | None:
    """A date, a datetime, or None when missing, empty or unreadable (nothing to schedule)."""
    if isinstance(value, date):
        return value  # datetime is a date too
    if not isinstance(value, str) or len(value) > _MAX_VALUE_LENGTH or not value.strip():
        return None
    text = value.strip()
    try:
        if _DATE_SHAPE.fullmatch(text):
            return date.fromisoformat(text)
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _shift(base: date, offset: Duration, tz: ZoneInfo) -> datetime:
    if isinstance(base, datetime):
        if base.utcoffset() is None:
            base = localise(base, tz)  # A naive reading is local wall-clock time.
        if not offset.days:
            return (base + offset.exact).astimezone(UTC)
        local = wall(base, tz)
    else:
        local = datetime.combine(base, time())
    return localise(local + timedelta(days=offset.days), tz) + offset.exact

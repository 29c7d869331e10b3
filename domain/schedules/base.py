"""The Schedule base: what every kind of schedule answers, whatever its rule."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import islice, takewhile
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from domain.schedules.durations import Path
from domain.schedules.wallclock import as_utc, load_zone


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """When an action runs. Immutable and JSON round-trippable (parse_schedule/to_json).

    `timezone` is optional: without it the tenant's timezone, passed at computation time,
    applies, so changing the tenant's zone moves its schedules along with it.
    """

    type_name: ClassVar[str] = ""
    recurring: ClassVar[bool] = False
    timezone: str | None = None

    @classmethod
    def from_json(cls, raw: Mapping[str, object], path: Path) -> Schedule:
        """Reads the kind's own keys; parse_schedule has checked `type` and `timezone`."""
        raise TypeError(f"{cls.__name__} is not a concrete kind of schedule")

    def zone(self, tenant_tz: str) -> ZoneInfo:
        return load_zone(self.timezone or tenant_tz)

    def fields_used(self) -> set[str]:
        """Data paths whose value the schedule depends on (to re-plan when they change)."""
        return set()

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"type": self.type_name, **self._json_fields()}
        if self.timezone is not None:
            out["timezone"] = self.timezone
        return out

    def _json_fields(self) -> dict[str, object]:
        return {}

    def first_time(
        self, trigger_time: datetime, data: Mapping[str, Any], tenant_tz: str
    ) -> datetime | None:
        """When a run triggered at `trigger_time` fires; for recurring kinds, the next tick."""
        return self.next_after(trigger_time, tenant_tz)

    def next_after(self, after: datetime, tenant_tz: str) -> datetime:
        """The first fire time strictly after `after` (aware UTC)."""
        for moment in self._occurrences(as_utc(after, "after"), self.zone(tenant_tz)):
            return moment
        raise ValueError(f"this {self.type_name} schedule has no time after {after.isoformat()}")

    def fire_times(
        self, after: datetime, until: datetime, tenant_tz: str, limit: int
    ) -> list[datetime]:
        """Fire times in (after, until], at most `limit`, computed lazily so huge ranges are cheap."""
        end = as_utc(until, "until")
        start = as_utc(after, "after")
        times = self._occurrences(start, self.zone(tenant_tz))
        if limit <= 0 or end <= start:
            return []
        return list(islice(takewhile(lambda moment: moment <= end, times), limit))

    def _occurrences(self, after: datetime, tz: ZoneInfo) -> Iterator[datetime]:
        """Strictly increasing aware UTC instants strictly after `after` (which is UTC)."""
        raise TypeError(f"a {self.type_name!r} schedule is not recurring")

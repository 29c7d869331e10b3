"""parse_schedule: raw JSON (as stored on a ProcessAction) to a Schedule, or a precise refusal."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from domain.errors import InvalidInput
from domain.schedules.base import Schedule
from domain.schedules.durations import Path
from domain.schedules.one_shot import At, Immediate, Relative
from domain.schedules.reading import check_keys
from domain.schedules.recurring import Cron, Interval, RRule
from domain.schedules.wallclock import is_timezone

# Each kind with the keys it reads; "type" and "timezone" are common to all.
KINDS: dict[str, tuple[type[Schedule], tuple[str, ...]]] = {
    Immediate.type_name: (Immediate, ()),
    At.type_name: (At, ("at",)),
    Relative.type_name: (Relative, ("to", "offset")),
    Cron.type_name: (Cron, ("cron",)),
    RRule.type_name: (RRule, ("rrule",)),
    Interval.type_name: (Interval, ("every", "start")),
}
SCHEDULE_TYPES = tuple(KINDS)


def parse_schedule(raw: object, path: Path = ("schedule",)) -> Schedule:
    if not isinstance(raw, Mapping):
        raise InvalidInput("must be an object", path)
    type_name = raw.get("type")
    if not isinstance(type_name, str) or type_name not in KINDS:
        raise InvalidInput(
            f"unknown schedule type; expected one of {', '.join(SCHEDULE_TYPES)}", (*path, "type")
        )
    kind, keys = KINDS[type_name]
    check_keys(raw, ("type", "timezone", *keys), path)
    timezone = raw.get("timezone")
    if timezone is not None and not is_timezone(timezone):
        raise InvalidInput("not an IANA timezone", (*path, "timezone"))
    schedule = kind.from_json(raw, path)
    return schedule if timezone is None else replace(schedule, timezone=timezone)

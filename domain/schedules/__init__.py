"""Schedules: when a process action fires, computed in wall-clock time of an IANA timezone.

Pure computation (zoneinfo, croniter, dateutil): the scheduler in automation/ asks for fire
times; nothing here reads a clock or stores anything. Results are aware UTC datetimes.
"""

from __future__ import annotations

from domain.schedules.base import Schedule
from domain.schedules.catch_up import (
    DEFAULT_CATCH_UP,
    POLICIES,
    CatchUp,
    backoff_delay,
    parse_catch_up,
)
from domain.schedules.durations import Duration, parse_duration, parse_iso_duration
from domain.schedules.one_shot import At, Immediate, Relative
from domain.schedules.parsing import SCHEDULE_TYPES, parse_schedule
from domain.schedules.recurring import Cron, Interval, RRule

__all__ = [
    "DEFAULT_CATCH_UP",
    "POLICIES",
    "SCHEDULE_TYPES",
    "At",
    "CatchUp",
    "Cron",
    "Duration",
    "Immediate",
    "Interval",
    "RRule",
    "Relative",
    "Schedule",
    "backoff_delay",
    "parse_catch_up",
    "parse_duration",
    "parse_iso_duration",
    "parse_schedule",
]

"""RFC 5545 RRULE text: the accepted subset, compilation, and a cheap restart point.

Rules are compiled with a fixed DTSTART anchor (2000-01-01 00:00 local, a Saturday) so a
rule's phase (INTERVAL=2) and defaults (no BYHOUR → midnight, MONTHLY → the 1st, YEARLY →
1 January) never depend on when it is evaluated. WEEKLY without a day rule means Mondays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from dateutil.rrule import rrule, rrulestr

from domain.errors import InvalidInput
from domain.schedules.durations import Path

ANCHOR = datetime(2000, 1, 1)
MAX_INTERVAL = 1000
_MAX_LENGTH = 500
_FREQUENCIES = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY")
_PARTS = frozenset(
    {"FREQ", "INTERVAL", "WKST", "BYSETPOS", "BYMONTH", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO"}
    | {"BYDAY", "BYHOUR", "BYMINUTE", "BYSECOND"}
)
_DAY_RULES = frozenset({"BYDAY", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO"})
# dateutil scans to year 9999 for a rule that never matches; probing from here bounds that.
_PROBE_FROM = datetime(9900, 1, 1)


@dataclass(frozen=True)
class CompiledRule:
    rule: rrule
    freq: str
    interval: int

    def restart_before(self, local: datetime) -> rrule:
        """The same rule restarted a whole number of intervals before `local`.

        dateutil iterates from DTSTART, so evaluating "next after 2026" from a 2000 anchor
        would walk 26 years of minutes; restarting by whole intervals keeps the phase and
        every default (day, weekday, time) unchanged.
        """
        start = _advance(self.freq, self.interval, local)
        return self.rule if start == ANCHOR else self.rule.replace(dtstart=start)


def check_rrule(text: str, path: Path) -> CompiledRule:
    """Refuses what dateutil would accept but a schedule must not do (sub-minute, endings)."""
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[len("RRULE:") :]
    if len(body) > _MAX_LENGTH or any(char in body for char in "\r\n"):
        raise InvalidInput(f"must be one RRULE line of at most {_MAX_LENGTH} characters", path)
    parts: dict[str, str] = {}
    for item in body.split(";"):
        name, _, value = item.partition("=")
        name = name.strip().upper()
        if name in {"COUNT", "UNTIL"}:
            raise InvalidInput(
                f"{name} is not supported: a schedule repeats until its action is removed", path
            )
        if name not in _PARTS or not value.strip():
            raise InvalidInput(f"not a valid RRULE: unsupported part {item.strip()!r}", path)
        if name in parts:
            raise InvalidInput(f"not a valid RRULE: {name} appears twice", path)
        parts[name] = value.strip().upper()
    freq = parts.get("FREQ")
    if freq == "SECONDLY":
        raise InvalidInput(
            "FREQ=SECONDLY is not allowed: schedules fire at most once a minute", path
        )
    if freq not in _FREQUENCIES:
        raise InvalidInput(f"FREQ must be one of {', '.join(_FREQUENCIES)}", path)
    if len(parts.get("BYSECOND", "0").split(",")) > 1:
        raise InvalidInput("BYSECOND with several values fires more than once a minute", path)
    interval = parts.get("INTERVAL", "1")
    if not interval.isdigit() or not 1 <= int(interval) <= MAX_INTERVAL:
        raise InvalidInput(f"INTERVAL must be a whole number from 1 to {MAX_INTERVAL}", path)
    if freq == "WEEKLY" and not _DAY_RULES & parts.keys():
        parts["BYDAY"] = "MO"
    try:
        return _compile(";".join(f"{key}={value}" for key, value in sorted(parts.items())))
    except _NeverFires:
        raise InvalidInput("never fires: no date matches every part of this RRULE", path) from None
    except (ValueError, TypeError, OverflowError) as error:
        raise InvalidInput(f"not a valid RRULE: {error}", path) from None


@lru_cache(maxsize=1024)
def compile_rrule(text: str) -> CompiledRule:
    """For a text already accepted by check_rrule; cached as schedules are evaluated often."""
    return check_rrule(text, ())


class _NeverFires(ValueError):
    pass


@lru_cache(maxsize=1024)
def _compile(normalised: str) -> CompiledRule:
    rule = rrulestr(normalised, dtstart=ANCHOR)
    if not isinstance(rule, rrule):  # pragma: no cover - a single line never yields a set
        raise TypeError("expected a single rule")
    parts = dict(item.split("=", 1) for item in normalised.split(";"))
    compiled = CompiledRule(rule, parts["FREQ"], int(parts.get("INTERVAL", "1")))
    # A rule like "30 February" would otherwise make every evaluation scan to year 9999.
    if next(iter(compiled.restart_before(_PROBE_FROM)), None) is None:
        raise _NeverFires(normalised)
    return compiled


def _advance(freq: str, interval: int, local: datetime) -> datetime:
    """ANCHOR moved forward by whole intervals, ending at least one interval before `local`."""
    if local <= ANCHOR:
        return ANCHOR
    if freq in {"YEARLY", "MONTHLY"}:
        months = (local.year - ANCHOR.year) * 12 + local.month - ANCHOR.month
        per_step = interval * (12 if freq == "YEARLY" else 1)
        steps = months // per_step - 1
        if steps <= 0:
            return ANCHOR
        year, month = divmod(steps * per_step, 12)
        return ANCHOR.replace(year=ANCHOR.year + year, month=ANCHOR.month + month)
    unit = {
        "WEEKLY": timedelta(weeks=1),
        "DAILY": timedelta(days=1),
        "HOURLY": timedelta(hours=1),
        "MINUTELY": timedelta(minutes=1),
    }[freq]
    steps = (local - ANCHOR) // (unit * interval) - 1
    return ANCHOR + unit * interval * steps if steps > 0 else ANCHOR

"""Signed ISO-8601 durations, keeping calendar days apart from elapsed time.

"P1D" and "PT24H" differ across a DST change: one day later at the same wall-clock time is
23 or 25 hours away. A Duration keeps the nominal days separately so schedules can add them
in local time and add the exact part (hours, minutes, seconds) in elapsed time, as RFC 5545
does for DURATION values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from domain.errors import InvalidInput

Path = tuple[str | int, ...]

# Counts are bounded so arithmetic on them can never overflow a datetime.
_SHAPE = re.compile(
    r"(?P<sign>[+-])?P(?:(?P<w>\d{1,6})W)?(?:(?P<d>\d{1,6})D)?"
    r"(?:T(?=\d)(?:(?P<h>\d{1,7})H)?(?:(?P<m>\d{1,9})M)?"
    r"(?:(?P<s>\d{1,11})(?:[.,](?P<f>\d{1,6}))?S)?)?"
)
_CALENDAR_UNITS = re.compile(r"[+-]?P(?:\d+Y)?(?:\d+M)?(?:\d+[WD])*(?:T.*)?")
MAX_DURATION = timedelta(days=36_525)
_HINT = "must be an ISO 8601 duration like PT15M, P1D or -P1DT2H"


@dataclass(frozen=True)
class Duration:
    """`days` are nominal (local calendar days); `exact` is elapsed time; both share one sign."""

    days: int = 0
    exact: timedelta = timedelta(0)

    @property
    def negative(self) -> bool:
        return self.days < 0 or self.exact < timedelta(0)

    def to_timedelta(self) -> timedelta:
        return timedelta(days=self.days) + self.exact

    def to_iso(self) -> str:
        """Canonical spelling, so parsing it back gives an equal Duration."""
        days, exact = abs(self.days), abs(self.exact)
        if not days and not exact:
            return "PT0S"
        text = "-P" if self.negative else "P"
        if days and not exact and days % 7 == 0:
            return f"{text}{days // 7}W"
        if days:
            text += f"{days}D"
        if exact:
            text += "T"
            hours, rest = divmod(exact, timedelta(hours=1))
            minutes, rest = divmod(rest, timedelta(minutes=1))
            seconds, micros = divmod(rest // timedelta(microseconds=1), 1_000_000)
            text += f"{hours}H" if hours else ""
            text += f"{minutes}M" if minutes else ""
            if micros:
                text += f"{seconds}.{micros:06d}".rstrip("0") + "S"
            elif seconds:
                text += f"{seconds}S"
        return text


def parse_iso_duration(text: object, path: Path = ()) -> Duration:
    """Parse "[+-]PnWnDTnHnMnS"; years and months are refused (their length is ambiguous)."""
    if not isinstance(text, str) or len(text) > 64:
        raise InvalidInput(_HINT, path)
    spelled = text.strip().upper()
    found = _SHAPE.fullmatch(spelled)
    if found is None or spelled.rstrip("T").endswith("P"):
        if _CALENDAR_UNITS.fullmatch(spelled) and ("Y" in spelled or "M" in spelled.split("T")[0]):
            raise InvalidInput("years and months are not supported; use weeks or days", path)
        raise InvalidInput(_HINT, path)
    part = {key: int(found[key] or 0) for key in ("w", "d", "h", "m", "s")}
    fraction = found["f"] or ""
    days = part["w"] * 7 + part["d"]
    exact = timedelta(
        hours=part["h"],
        minutes=part["m"],
        seconds=part["s"],
        microseconds=int(fraction.ljust(6, "0")) if fraction else 0,
    )
    if timedelta(days=days) + exact > MAX_DURATION:
        raise InvalidInput("must be at most 100 years (P36525D)", path)
    if found["sign"] == "-":
        return Duration(-days, -exact)
    return Duration(days, exact)


def parse_duration(text: object, path: Path = ()) -> timedelta:
    """A signed duration as plain elapsed time (a day counts as 24 hours)."""
    return parse_iso_duration(text, path).to_timedelta()

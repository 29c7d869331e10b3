"""Spreadsheet cells as field values: what an import hands a field's strategy to validate.

A cell is whatever a reader found (a string from a CSV file; a number, bool, date or datetime
from a workbook). Each strategy's `from_cell` turns it into the JSON form its `validate` takes,
in the tenant's locale and timezone; what it cannot read it passes on unchanged, so the
strategy's own message says what is wrong with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cached_property
from zoneinfo import ZoneInfo

from dateutil import parser as dateparser

DECIMAL_COMMA = frozenset(
    [
        "af",
        "bg",
        "ca",
        "cs",
        "da",
        "de",
        "el",
        "es",
        "et",
        "eu",
        "fi",
        "fr",
        "gl",
        "hr",
        "hu",
        "id",
        "is",
        "it",
        "lt",
        "lv",
        "nb",
        "nl",
        "nn",
        "no",
        "pl",
        "pt",
        "ro",
        "ru",
        "sk",
        "sl",
        "sq",
        "sr",
        "sv",
        "tr",
        "uk",
        "vi",
    ]
)
"""Languages that write 1.234,5 (their thousands separator being '.', ' ' or a narrow space)."""
MONTH_FIRST = frozenset({"en", "en-us", "en-ph", "en-ca"})
"""Locales that write 03/04/2024 for the 4th of March; others put the day first."""
TRUE_WORDS = frozenset(
    [
        "true",
        "yes",
        "y",
        "1",
        "x",
        "✓",
        "ja",
        "j",
        "wahr",
        "oui",
        "vrai",
        "si",
        "sí",
        "vero",
        "sim",
        "verdadeiro",
        "waar",
        "tak",
        "да",
        "כן",
        "نعم",
    ]
)
FALSE_WORDS = frozenset(
    [
        "false",
        "no",
        "n",
        "0",
        "nein",
        "falsch",
        "non",
        "faux",
        "falso",
        "não",
        "nao",
        "onwaar",
        "nie",
        "нет",
        "לא",
        "لا",
    ]
)
_NUMBER = re.compile(r"[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?")


@dataclass(frozen=True)
class CellContext:
    """The tenant's way of writing values: its locale ("de", "en-GB") and IANA timezone."""

    locale: str = "en"
    timezone: str = "UTC"

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def decimal_comma(self) -> bool:
        return self.locale.split("-")[0].casefold() in DECIMAL_COMMA

    @cached_property
    def day_first(self) -> bool:
        return self.locale.casefold() not in MONTH_FIRST


def cell_text(value: object) -> object:
    """A cell as text: whole numbers without '.0' (a code or phone number typed as a number)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


def cell_number(value: object, cells: CellContext) -> object:
    """'1.234,5' in German, '1,234.5' in English, '12 %' not: numbers stored as text."""
    if not isinstance(value, str):
        return value
    text = value.strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
    # Only the locale's decimal mark survives, as '.'
    decimal = text.replace(".", "").replace(",", ".")
    text = decimal if cells.decimal_comma else text.replace(",", "")
    if not _NUMBER.fullmatch(text):
        return value
    number = float(text)
    return int(number) if number.is_integer() and "e" not in text.lower() else number


def cell_boolean(value: object) -> object:
    if isinstance(value, int | float) and not isinstance(value, bool) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().casefold()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    return value


def _parsed(value: str, cells: CellContext) -> datetime | None:
    try:
        return datetime.fromisoformat(value)  # most files: and 20x faster than dateutil
    except ValueError:
        pass
    try:
        return dateparser.parse(value, dayfirst=cells.day_first)
    except (ValueError, OverflowError):
        return None


def cell_date(value: object, cells: CellContext) -> object:
    """Excel's dates (and datetimes at midnight), ISO text, or the locale's 31/01/2024."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and value.strip():
        parsed = _parsed(value.strip(), cells)
        return parsed.date().isoformat() if parsed else value
    return value


def cell_datetime(value: object, cells: CellContext) -> object:
    """A time without an offset (all Excel has) is the tenant's local time."""
    moment: datetime | None = None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, str) and value.strip():
        moment = _parsed(value.strip(), cells)
    if moment is None:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=cells.zone)
    return moment.isoformat()


def cell_list(value: object) -> object:
    """'a; b' or 'a, b' as the list ['a', 'b']."""
    if not isinstance(value, str):
        return value
    separator = ";" if ";" in value else ","
    return [item.strip() for item in value.split(separator) if item.strip()]


def cell_point(value: object) -> object:
    """'31.77, 35.21' (latitude first, as maps write it) as {"lat": 31.77, "lon": 35.21}."""
    if not isinstance(value, str):
        return value
    parts = [part.strip() for part in value.replace(";", ",").split(",")]
    try:
        lat, lon = (float(part) for part in parts)
    except ValueError:
        return value
    return {"lat": lat, "lon": lon}

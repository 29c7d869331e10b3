"""What a rule can talk about (typed variables) and what it is evaluated against (RuleInput)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from domain.fields import FieldSpec
from domain.rules.dates import zone_named

VarType = Literal["number", "text", "boolean", "date", "datetime", "list", "geo", "any"]

# Field types the rule checker knows; anything else (a type added later) is "any" so that a new
# field type never makes existing rules unsavable, at the price of a weaker check.
_FIELD_VAR_TYPES: dict[str, VarType] = {
    "integer": "number",
    "number": "number",
    "text": "text",
    "long_text": "text",
    "email": "text",
    "phone": "text",
    "url": "text",
    "enum": "text",
    "reference": "text",
    "boolean": "boolean",
    "date": "date",
    "datetime": "datetime",
    "multi_enum": "list",
    "geo_point": "geo",
    "json": "any",
}


def field_var_types(fields: Iterable[FieldSpec], prefix: str = "data.") -> dict[str, VarType]:
    """The variables a record's typed fields give a rule, e.g. {"data.severity": "number"}."""
    return {f"{prefix}{spec.name}": _FIELD_VAR_TYPES.get(spec.type, "any") for spec in fields}


@dataclass(frozen=True, slots=True)
class RuleInput:
    """One record to test. `var` paths resolve in `data` ("data.severity", "kind", ...).

    `previous` is the same record before the change (same shape as `data`) for an
    entity_changed trigger, else None. `now` and `timezone` (IANA) make date operators
    deterministic: "today" is the tenant's local day at `now`, never the machine clock's.
    """

    data: Mapping[str, Any]
    previous: Mapping[str, Any] | None
    now: datetime
    timezone: str
    zone: ZoneInfo = field(init=False, repr=False, compare=False)
    now_utc: datetime = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.now.tzinfo is None or self.now.utcoffset() is None:
            raise ValueError("RuleInput.now must be timezone-aware")
        try:
            zone = zone_named(self.timezone)
        except (KeyError, ValueError) as exc:  # ZoneInfoNotFoundError is a KeyError
            raise ValueError(f"unknown timezone {self.timezone!r}") from exc
        object.__setattr__(self, "zone", zone)
        object.__setattr__(self, "now_utc", self.now.astimezone(UTC))

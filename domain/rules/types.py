"""What a rule can talk about (typed variables) and what it is evaluated against (RuleInput)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from domain.fields import STRATEGIES, FieldSpec, VarType
from domain.rules.dates import zone_named


def field_var_types(fields: Iterable[FieldSpec], prefix: str = "data.") -> dict[str, VarType]:
    """The variables a record's typed fields give a rule, e.g. {"data.severity": "number"}."""
    return {f"{prefix}{spec.name}": _rule_type(spec.type) for spec in fields}


def _rule_type(field_type: str) -> VarType:
    strategy = STRATEGIES.get(field_type)  # a type this version does not know: checked late
    return strategy.rule_type if strategy is not None else "any"


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

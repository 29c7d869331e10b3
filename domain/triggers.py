"""What starts a process action: an occurrence, an entity change, a stage, or the clock.

A trigger also says which variables a condition, a relative schedule and a template may use,
so all three are checked against the same list when an action is saved.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast, get_args
from uuid import UUID

from domain.errors import InvalidInput
from domain.fields import FieldSpec
from domain.names import clean_name
from domain.rules import VarType, field_var_types

TriggerOn = Literal[
    "occurrence_recorded",
    "entity_created",
    "entity_changed",
    "stage_entered",
    "sla_reminder",
    "sla_breached",
    "schedule",
]
TRIGGERS: tuple[str, ...] = get_args(TriggerOn)

# Variables every record of a trigger has, beside its typed `data.*` fields.
_OCCURRENCE_VARS: dict[str, VarType] = {
    "kind": "text",
    "occurred_at": "datetime",
    "location": "geo",
    "process_id": "text",
}
_ENTITY_VARS: dict[str, VarType] = {"location": "geo", "entity_type": "text"}
_PROCESS_VARS: dict[str, VarType] = {
    "kind": "text",
    "title": "text",
    "stage": "text",
    "previous_stage": "text",
    "status": "text",
    "due_at": "datetime",
    "data": "any",
}
_SLA_VARS: dict[str, VarType] = {
    **_PROCESS_VARS,
    "sla_due_at": "datetime",
    "fraction": "number",
}
PROCESS_TRIGGERS = ("stage_entered", "sla_reminder", "sla_breached")
"""Triggers whose record is a process: entering a stage, and its SLA's timers (a reminder at a
fraction of the SLA, the breach)."""


@dataclass(frozen=True)
class Trigger:
    on: TriggerOn
    kind: str | None = None
    """Occurrence kind (occurrence_recorded)."""
    entity_type_id: UUID | None = None
    process_kind: str | None = None
    """Process kind (stage_entered; optional narrowing for occurrences linked to a process)."""
    stage: str | None = None

    @property
    def needs_fields(self) -> Literal["occurrence_kind", "entity_type", None]:
        if self.on == "occurrence_recorded":
            return "occurrence_kind"
        if self.on in ("entity_created", "entity_changed"):
            return "entity_type"
        return None

    @property
    def has_previous(self) -> bool:
        """Only an update has a state before it, so only then may a rule ask what changed."""
        return self.on == "entity_changed"

    @property
    def subject(self) -> str | None:
        """The template variable holding the triggering record."""
        return {
            "occurrence_recorded": "occurrence",
            "entity_created": "entity",
            "entity_changed": "entity",
            "stage_entered": "process",
            "sla_reminder": "process",
            "sla_breached": "process",
            "schedule": None,
        }[self.on]

    def variables(self, fields: Iterable[FieldSpec] = ()) -> dict[str, VarType]:
        typed = field_var_types(fields)
        if self.on == "occurrence_recorded":
            return {**_OCCURRENCE_VARS, **typed}
        if self.on in ("entity_created", "entity_changed"):
            return {**_ENTITY_VARS, **typed}
        if self.on == "stage_entered":
            return dict(_PROCESS_VARS)
        if self.on in PROCESS_TRIGGERS:
            return dict(_SLA_VARS)
        return {}

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"on": self.on}
        if self.kind is not None:
            out["kind"] = self.kind
        if self.entity_type_id is not None:
            out["entity_type_id"] = str(self.entity_type_id)
        if self.process_kind is not None:
            out["process_kind"] = self.process_kind
        if self.stage is not None:
            out["stage"] = self.stage
        return out


def has_process(trigger: Trigger) -> bool:
    """Whether the trigger's record belongs to a process (whose participants a run can reach)."""
    return trigger.on in PROCESS_TRIGGERS or (
        trigger.on == "occurrence_recorded" and trigger.process_kind is not None
    )


def parse_trigger(raw: object, path: tuple[str | int, ...] = ("trigger",)) -> Trigger:
    if not isinstance(raw, Mapping):
        raise InvalidInput('must be an object like {"on": "occurrence_recorded"}', path)
    on = raw.get("on")
    if on not in TRIGGERS:
        raise InvalidInput(f"unknown trigger; one of {', '.join(TRIGGERS)}", (*path, "on"))
    allowed = {
        "occurrence_recorded": {"on", "kind", "process_kind"},
        "entity_created": {"on", "entity_type_id"},
        "entity_changed": {"on", "entity_type_id"},
        "stage_entered": {"on", "process_kind", "stage"},
        "sla_reminder": {"on", "process_kind", "stage"},
        "sla_breached": {"on", "process_kind", "stage"},
        "schedule": {"on"},
    }[on]
    for key in raw:
        if key not in allowed:
            raise InvalidInput(f"not a key of an {on!r} trigger", (*path, str(key)))

    def name(key: str, *, required: bool) -> str | None:
        value = raw.get(key)
        if value is None:
            if required:
                raise InvalidInput("required", (*path, key))
            return None
        if not isinstance(value, str):
            raise InvalidInput("must be a string", (*path, key))
        return clean_name(value, (*path, key), 63)

    entity_type_id = None
    if on in ("entity_created", "entity_changed"):
        try:
            entity_type_id = UUID(str(raw.get("entity_type_id")))
        except ValueError:
            raise InvalidInput("must be an entity type id", (*path, "entity_type_id")) from None
    return Trigger(
        on=cast("TriggerOn", on),
        kind=name("kind", required=on == "occurrence_recorded"),
        entity_type_id=entity_type_id,
        process_kind=name("process_kind", required=on in PROCESS_TRIGGERS),
        stage=name("stage", required=False),
    )


# The record a condition sees (its `var` paths) and a template gets as its subject. The reactor
# builds it from events, the dry run from read models: one shape for both.


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def occurrence_record(
    kind: str,
    occurred_at: datetime,
    data: Mapping[str, Any],
    location: Mapping[str, float] | None,
    process_id: UUID | None,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "occurred_at": _iso(occurred_at),
        "location": dict(location) if location else None,
        "process_id": str(process_id) if process_id else None,
        "data": dict(data),
    }


def entity_record(
    entity_type: str, data: Mapping[str, Any], location: Mapping[str, float] | None
) -> dict[str, Any]:
    return {
        "entity_type": entity_type,
        "location": dict(location) if location else None,
        "data": dict(data),
    }


def process_record(
    kind: str,
    title: str,
    stage: str,
    previous_stage: str | None,
    status: str,
    due_at: datetime | None,
    data: Mapping[str, Any],
) -> dict[str, Any]:
    return {
        "kind": kind,
        "title": title,
        "stage": stage,
        "previous_stage": previous_stage,
        "status": status,
        "due_at": _iso(due_at),
        "data": dict(data),
    }

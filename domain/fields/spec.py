"""FieldSpec: the stored, JSON-friendly definition of one field of a user-defined type."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field

from domain.fields.errors import NestedValueError, Path

_KEYS = (
    "name",
    "type",
    "label",
    "required",
    "default",
    "unique",
    "searchable",
    "personal",
    "constraints",
)


@dataclass(frozen=True)
class FieldSpec:
    """Shape only; whether the values make sense together is check_schema's job."""

    name: str
    type: str
    label: str | None = None
    required: bool = False
    default: object = None
    unique: bool = False
    searchable: str | None = None
    constraints: dict[str, object] = field(default_factory=dict)
    personal: bool = False
    """Values sealed under the entity's own key in events, erased by `forget-entity`."""

    def to_dict(self) -> dict[str, object]:
        # Deep copies so a stored event payload can never alias a live spec. `personal` only
        # when set: the fields of types defined before it existed are stored as they were.
        return {
            "name": self.name,
            "type": self.type,
            "label": self.label,
            "required": self.required,
            "default": copy.deepcopy(self.default),
            "unique": self.unique,
            "searchable": self.searchable,
            "constraints": copy.deepcopy(self.constraints),
        } | ({"personal": True} if self.personal else {})

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> FieldSpec:
        """Raises ValueError (a NestedValueError listing every bad key) on a malformed shape.

        Unknown keys are refused rather than dropped so a typo like "requried" is not silently
        ignored.
        """
        if not isinstance(raw, Mapping):
            raise NestedValueError([((), "must be an object")])
        problems: list[tuple[Path, str]] = [
            ((str(key),), "unknown key") for key in raw if key not in _KEYS
        ]
        name = _text(raw, "name", problems, optional=False)
        type_name = _text(raw, "type", problems, optional=False)
        label = _text(raw, "label", problems, optional=True)
        searchable = _text(raw, "searchable", problems, optional=True)
        required = _flag(raw, "required", problems)
        unique = _flag(raw, "unique", problems)
        personal = _flag(raw, "personal", problems)
        constraints = raw.get("constraints", {})
        if constraints is None:
            constraints = {}
        if not isinstance(constraints, Mapping) or not all(isinstance(k, str) for k in constraints):
            problems.append((("constraints",), "must be an object"))
            constraints = {}
        if problems:
            raise NestedValueError(problems)
        return cls(
            name=name or "",
            type=type_name or "",
            label=label,
            required=required,
            default=copy.deepcopy(raw.get("default")),
            unique=unique,
            searchable=searchable,
            personal=personal,
            constraints={str(k): copy.deepcopy(v) for k, v in constraints.items()},
        )


def _text(
    raw: Mapping[str, object], key: str, problems: list[tuple[Path, str]], *, optional: bool
) -> str | None:
    value = raw.get(key)
    if isinstance(value, str) or (value is None and optional):
        return value
    problems.append(
        ((key,), "must be a string" if optional else "is required and must be a string")
    )
    return None


def _flag(raw: Mapping[str, object], key: str, problems: list[tuple[Path, str]]) -> bool:
    value = raw.get(key)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    problems.append(((key,), "must be true or false"))
    return False

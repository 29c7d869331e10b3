"""Whole-schema and whole-record checks: every problem is collected before anything is raised."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from domain.fields.base import STRATEGIES, FieldStrategy, strategy_for
from domain.fields.errors import DataInvalid, FieldError, NestedValueError, Path
from domain.fields.spec import FieldSpec

_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_WEIGHTS = ("A", "B", "C")
_MAX_LABEL_LENGTH = 200
_IMPORTANCE_TYPES = ("integer", "number")


def check_schema(
    fields: Sequence[FieldSpec],
    importance_field: str | None = None,
    location_field: str | None = None,
) -> None:
    errors: list[FieldError] = []
    seen: set[str] = set()
    for index, spec in enumerate(fields):
        errors.extend(_spec_errors(spec, ("fields", index), seen))
    named = (
        ("search_importance", importance_field, _IMPORTANCE_TYPES, "an integer or number"),
        ("location_field", location_field, ("geo_point",), "a geo_point"),
    )
    for key, name, types, what in named:
        target = next((spec for spec in fields if spec.name == name), None)
        if name is not None and (target is None or target.type not in types):
            errors.append(FieldError((key,), f"must name {what} field, not {name!r}"))
        elif target is not None and target.personal:
            # Its value is copied out of `data` into columns of the read side (rank, place).
            errors.append(FieldError((key,), f"must not name a personal field, not {name!r}"))
    if errors:
        raise DataInvalid(errors)


def _spec_errors(spec: FieldSpec, at: Path, seen: set[str]) -> list[FieldError]:
    errors: list[FieldError] = []
    if not isinstance(spec.name, str) or not _NAME.fullmatch(spec.name):
        message = "must start with a-z and use only a-z, 0-9 and _ (at most 63 characters)"
        errors.append(FieldError((*at, "name"), message))
    elif spec.name in seen:
        errors.append(FieldError((*at, "name"), f"duplicate field name {spec.name!r}"))
    else:
        seen.add(spec.name)
    if spec.label is not None and (
        not isinstance(spec.label, str) or len(spec.label) > _MAX_LABEL_LENGTH
    ):
        message = f"must be a string of at most {_MAX_LABEL_LENGTH} characters"
        errors.append(FieldError((*at, "label"), message))
    if spec.searchable is not None and spec.searchable not in _WEIGHTS:
        errors.append(FieldError((*at, "searchable"), "must be A, B or C"))
    strategy = STRATEGIES.get(spec.type) if isinstance(spec.type, str) else None
    if strategy is None:
        known = ", ".join(sorted(STRATEGIES))
        errors.append(FieldError((*at, "type"), f"unknown field type {spec.type!r}; use {known}"))
        return errors
    return errors + _typed_errors(spec, strategy, at)


def _typed_errors(spec: FieldSpec, strategy: FieldStrategy, at: Path) -> list[FieldError]:
    errors = [
        FieldError(
            (*at, "constraints", key),
            f"is not a constraint of {spec.type} fields"
            f" (allowed: {', '.join(sorted(strategy.allowed_constraints)) or 'none'})",
        )
        for key in spec.constraints
        if key not in strategy.allowed_constraints
    ]
    constraint_errors = [
        FieldError((*at, "constraints", key), message)
        for key, message in strategy.constraint_problems(spec)
    ]
    errors += constraint_errors
    if spec.unique and not strategy.can_be_unique:
        errors.append(FieldError((*at, "unique"), f"{spec.type} fields cannot be unique"))
    if spec.personal and spec.unique:
        # A unique value is claimed under an id derived from it, which no key can erase.
        errors.append(FieldError((*at, "personal"), "a personal field cannot be unique"))
    if spec.personal and spec.searchable is not None:
        errors.append(FieldError((*at, "personal"), "a personal field cannot be searchable"))
    if spec.searchable in _WEIGHTS and not strategy.text_like:
        message = f"{spec.type} fields cannot be full-text searchable"
        errors.append(FieldError((*at, "searchable"), message))
    # With broken constraints the default's verdict would be noise (or a crash), so skip it.
    if spec.default is not None and not constraint_errors:
        errors += [
            FieldError((*at, "default", *path), message)
            for path, message in _problems(strategy, spec.default, spec)
        ]
    return errors


def _problems(strategy: FieldStrategy, value: object, spec: FieldSpec) -> list[tuple[Path, str]]:
    try:
        strategy.validate(value, spec)
    except NestedValueError as exc:
        return exc.problems
    except ValueError as exc:
        return [((), str(exc))]
    return []


def validate_data(
    fields: Sequence[FieldSpec], data: Mapping[str, object], *, partial: bool = False
) -> dict[str, object]:
    """Explicit None clears an optional field; partial mode checks only the keys given."""
    known = {spec.name for spec in fields}
    errors = [FieldError((key,), "unknown field") for key in data if key not in known]
    cleaned: dict[str, object] = {}
    for spec in fields:
        if spec.name in data:
            value = data[spec.name]
        elif partial:
            continue
        else:
            value = spec.default
            if value is None and not spec.required:
                continue
        if value is None:
            if spec.required:
                errors.append(FieldError((spec.name,), "is required"))
            else:
                cleaned[spec.name] = None
            continue
        try:
            cleaned[spec.name] = strategy_for(spec.type).validate(value, spec)
        except FieldError as exc:
            errors.append(FieldError((spec.name,), exc.message))
        except NestedValueError as exc:
            errors += [FieldError((spec.name, *path), message) for path, message in exc.problems]
        except ValueError as exc:
            errors.append(FieldError((spec.name,), str(exc)))
    if errors:
        raise DataInvalid(errors)
    return cleaned


def personal_names(fields: Sequence[FieldSpec]) -> frozenset[str]:
    return frozenset(spec.name for spec in fields if spec.personal)


def unique_values(fields: Sequence[FieldSpec], data: Mapping[str, object]) -> dict[str, str]:
    """Expects validated data; the keys are what uniqueness claims are made on."""
    return {
        spec.name: strategy_for(spec.type).unique_key(data[spec.name])
        for spec in fields
        if spec.unique and data.get(spec.name) is not None
    }

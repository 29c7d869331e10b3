"""Choices, structured values, references and free-form JSON."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping

from domain.fields.base import (
    FieldStrategy,
    Problem,
    bound,
    describe_choices,
    parse_count,
    range_problems,
    register,
)
from domain.fields.cells import CellContext, cell_list, cell_point
from domain.fields.errors import NestedValueError, Path
from domain.fields.spec import FieldSpec

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DEFAULT_MAX_JSON_BYTES = 65_536


def _choices_problems(spec: FieldSpec) -> list[Problem]:
    raw = spec.constraints.get("values")
    if raw is None:
        return [("values", "is required")]
    if not isinstance(raw, list) or not raw:
        return [("values", "must be a non-empty list of strings")]
    if not all(isinstance(item, str) and item for item in raw):
        return [("values", "must contain only non-empty strings")]
    repeated = sorted(item for item, count in Counter(raw).items() if count > 1)
    if repeated:
        return [("values", f"must not repeat {describe_choices(repeated)}")]
    return []


def _choices(spec: FieldSpec) -> list[str]:
    raw = spec.constraints.get("values")
    return [item for item in raw if isinstance(item, str)] if isinstance(raw, list) else []


@register
class EnumField(FieldStrategy):
    name = "enum"
    rule_type = "text"
    allowed_constraints = frozenset({"values"})
    text_like = True

    def constraint_problems(self, spec: FieldSpec) -> list[Problem]:
        return _choices_problems(spec)

    def validate(self, value: object, spec: FieldSpec) -> object:
        choices = _choices(spec)
        if not isinstance(value, str) or value not in choices:
            raise ValueError(f"must be one of {describe_choices(choices)}")
        return value


@register
class MultiEnumField(FieldStrategy):
    name = "multi_enum"
    rule_type = "list"
    allowed_constraints = frozenset({"values", "min_items", "max_items"})
    can_be_unique = False
    text_like = True

    def constraint_problems(self, spec: FieldSpec) -> list[Problem]:
        return _choices_problems(spec) + range_problems(spec, "min_items", "max_items", parse_count)

    def from_cell(self, value: object, cells: CellContext) -> object:
        return cell_list(value)

    def validate(self, value: object, spec: FieldSpec) -> object:
        if not isinstance(value, list):
            raise ValueError("must be a list")
        choices = _choices(spec)
        # Distinct items from a finite set: anything longer is wrong, and we need not walk it.
        if len(value) > len(choices):
            raise ValueError(f"must have at most {len(choices)} distinct items")
        allowed, seen = set(choices), set[str]()
        problems: list[tuple[Path, str]] = []
        for index, item in enumerate(value):
            if not isinstance(item, str) or item not in allowed:
                problems.append(((index,), f"must be one of {describe_choices(choices)}"))
            elif item in seen:
                problems.append(((index,), f"repeats {item!r}"))
            else:
                seen.add(item)
        low = bound(spec, "min_items", parse_count)
        high = bound(spec, "max_items", parse_count)
        if low is not None and len(value) < low:
            problems.append(((), f"must have at least {low} items"))
        if high is not None and len(value) > high:
            problems.append(((), f"must have at most {high} items"))
        if problems:
            raise NestedValueError(problems)
        return list(value)


@register
class GeoPointField(FieldStrategy):
    name = "geo_point"
    rule_type = "geo"
    can_be_unique = False

    def from_cell(self, value: object, cells: CellContext) -> object:
        return cell_point(value)

    def validate(self, value: object, spec: FieldSpec) -> object:
        if not isinstance(value, Mapping):
            raise ValueError("must be an object with lat and lon")
        problems: list[tuple[Path, str]] = [
            ((str(key),), "unknown key") for key in value if key not in ("lat", "lon")
        ]
        point: dict[str, float] = {}
        for key, limit in (("lat", 90.0), ("lon", 180.0)):
            coordinate = value.get(key)
            if coordinate is None:
                problems.append(((key,), "is required"))
            elif (
                isinstance(coordinate, bool)
                or not isinstance(coordinate, int | float)
                or not math.isfinite(coordinate)
                or abs(coordinate) > limit
            ):
                problems.append(((key,), f"must be a number between -{limit:g} and {limit:g}"))
            else:
                point[key] = float(coordinate)
        if problems:
            raise NestedValueError(problems)
        return point


def parse_uuid(raw: object) -> str:
    """Only the hyphenated form: uuid.UUID also takes braces and URNs we do not want stored."""
    if not isinstance(raw, str) or not _UUID.fullmatch(raw):
        raise ValueError("must be a UUID like 123e4567-e89b-12d3-a456-426614174000")
    return raw.lower()


@register
class ReferenceField(FieldStrategy):
    """Format only: whether the target exists, and has the right type, needs the store."""

    name = "reference"
    rule_type = "text"
    allowed_constraints = frozenset({"entity_type_id"})

    def constraint_problems(self, spec: FieldSpec) -> list[Problem]:
        if "entity_type_id" not in spec.constraints:
            return []
        try:
            parse_uuid(spec.constraints["entity_type_id"])
        except ValueError as exc:
            return [("entity_type_id", str(exc))]
        return []

    def validate(self, value: object, spec: FieldSpec) -> object:
        return parse_uuid(value)


@register
class JsonField(FieldStrategy):
    """An escape hatch for structure we do not model, bounded so it cannot bloat every event."""

    name = "json"
    rule_type = "any"
    allowed_constraints = frozenset({"max_bytes"})
    can_be_unique = False

    def constraint_problems(self, spec: FieldSpec) -> list[Problem]:
        if "max_bytes" not in spec.constraints:
            return []
        raw = spec.constraints["max_bytes"]
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
            return [("max_bytes", "must be a positive integer")]
        return []

    def from_cell(self, value: object, cells: CellContext) -> object:
        return value  # a cell's text is a JSON string value, not JSON to parse

    def validate(self, value: object, spec: FieldSpec) -> object:
        limit = bound(spec, "max_bytes", parse_count) or _DEFAULT_MAX_JSON_BYTES
        try:
            encoded = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
            size = len(encoded.encode("utf-8"))
        except RecursionError:
            raise ValueError("is nested too deeply") from None
        except (TypeError, ValueError):
            raise ValueError(
                "must be plain JSON: objects, arrays, strings, finite numbers, booleans, null"
            ) from None
        if size > limit:
            raise ValueError(f"must be at most {limit} bytes as JSON (is {size})")
        # A round trip turns tuples into lists and non-string keys into strings, as storage would.
        normalised: object = json.loads(encoded)
        return normalised

"""Locations: a point on Earth, validated like any geo_point field."""

from __future__ import annotations

from typing import Any

from domain.errors import InvalidInput


def clean_location(
    raw: dict[str, Any] | None, path: tuple[str | int, ...] = ("location",)
) -> dict[str, float] | None:
    if raw is None:
        return None
    if set(raw) != {"lat", "lon"}:
        raise InvalidInput("must be an object with exactly 'lat' and 'lon'", path)
    point: dict[str, float] = {}
    for key, limit in (("lat", 90.0), ("lon", 180.0)):
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput("must be a number", (*path, key))
        if not -limit <= float(value) <= limit:
            raise InvalidInput(f"must be between -{limit:g} and {limit:g}", (*path, key))
        point[key] = float(value)
    return point

"""Great-circle distance for `within_km` (haversine on a sphere of the Earth's mean radius).

The sphere is off by at most ~0.5 % against the ellipsoid, far below what "within N km" means
to a user, and it needs no library.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

EARTH_RADIUS_KM = 6371.0088


def point_of(value: object) -> tuple[float, float] | None:
    """(lat, lon) of a {"lat": .., "lon": ..} object; None when it is not a valid point."""
    if not isinstance(value, Mapping):
        return None
    lat, lon = value.get("lat"), value.get("lon")
    if not (is_coordinate(lat, 90.0) and is_coordinate(lon, 180.0)):
        return None
    return float(lat), float(lon)  # type: ignore[arg-type]


def is_coordinate(value: object, limit: float) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and -limit <= value <= limit
    )


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    half_dphi = (phi2 - phi1) / 2
    half_dlambda = math.radians(lon2 - lon1) / 2
    h = math.sin(half_dphi) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(half_dlambda) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))

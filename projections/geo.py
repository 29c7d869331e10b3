"""Geo queries over the entities and occurrences read models (earthdistance, GiST-indexed).

Both tables index `ll_to_earth(lat, lon)` (a cube) with GiST, partial on `lat IS NOT NULL`;
every query repeats that expression and predicate so the planner can use the index.

Row-level security decides how: the API reads as a role under RLS, and RLS lets no operator
that is not LEAKPROOF into an index condition (it may only run after the policy's filter);
cube's `@>` is not, so an `earth_box(...) @> ll_to_earth(lat, lon)` pre-filter reads the whole
table. Ordering is not a condition, though: `ORDER BY ll_to_earth(lat, lon) <-> point` is a
GiST nearest-neighbour scan even under RLS, and the chord length `<->` orders exactly like the
great-circle distance. So every query here walks each table nearest-first through a
server-side cursor, a chunk at a time, and stops at the first row beyond its radius (the
radius asked for; for a box, the circle around it) or once it has `limit` rows:
- nearest k: the first k (within `radius_m`, if given);
- within a radius: the rows nearer than the radius, nearest first;
- within a bounding box: the rows inside it (latitude/longitude ranges; a box crossing the
  antimeridian has west > east), nearest its centre first.
The transaction carries the tenant (RLS); nothing here filters by tenant.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg

from projections.entities.queries import SCHEMA as ENTITIES
from projections.occurrences.queries import SCHEMA as OCCURRENCES
from projections.seen import Seen, only_seen

KINDS = ("entity", "occurrence")
MAX_LIMIT = 1_000
EARTH_RADIUS_M = 6_378_168.0
"""earthdistance's `earth()`, so radii computed here agree with the database's distances."""

POINT = "ll_to_earth(%s, %s)"
SOURCES = {
    "entity": ("coalesce(title, '')", f"{ENTITIES}.entities", "NOT archived"),
    "occurrence": ("kind", f"{OCCURRENCES}.occurrences", "retracted IS NULL"),
}
"""Each kind: its title, its table, which of its rows are live."""
LOCATION_HIDDEN = (
    f"entity_type_id IN (SELECT id FROM {ENTITIES}.entity_types "  # noqa: S608
    "WHERE location_field = ANY(%s))"
)
"""Entities whose location is a field hidden from the reader: geo reads leave them out."""


def walk_sql(kind: str, seen: Seen | None) -> tuple[str, list[Any]]:
    """A kind's rows nearest first from (lat, lon) (the first and last two parameters), only
    those `seen` shows when given."""
    title, table, live = SOURCES[kind]
    conditions = ["lat IS NOT NULL", live]
    params: list[Any] = []
    if seen is not None:
        clause, ids = only_seen("id", seen)
        conditions.append(clause)
        params += ids
        if seen.hidden and kind == "entity":
            conditions.append(f"NOT {LOCATION_HIDDEN}")
            params.append(list(seen.hidden))
    sql = (
        f"SELECT '{kind}' AS kind, id, {title} AS title, lat, lon, "  # noqa: S608
        f"earth_distance({POINT}, ll_to_earth(lat, lon)) AS distance_m FROM {table} "
        f"WHERE {' AND '.join(conditions)} ORDER BY ll_to_earth(lat, lon) <-> {POINT}"
    )
    return sql, params


CHUNK = 100
"""Rows fetched per round trip while walking outwards."""


# Not frozen: the read API's GraphQL types subclass the dataclasses here, and strawberry's
# (plain) dataclasses cannot inherit from frozen ones.
@dataclass
class GeoHit:
    kind: str
    id: UUID
    title: str
    lat: float
    lon: float
    distance_m: float | None


def to_geojson(hits: list[GeoHit]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection (RFC 7946: coordinates are [longitude, latitude])."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": str(hit.id),
                "geometry": {"type": "Point", "coordinates": [hit.lon, hit.lat]},
                "properties": {
                    "kind": hit.kind,
                    "id": str(hit.id),
                    "title": hit.title,
                    "distance_m": hit.distance_m,
                },
            }
            for hit in hits
        ],
    }


def great_circle_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    cos = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return EARTH_RADIUS_M * math.acos(max(-1.0, min(1.0, cos)))


def _check_point(lat: float, lon: float) -> None:
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise ValueError("latitude must be within [-90, 90] and longitude within [-180, 180]")


def _kinds(kinds: list[str] | None) -> list[str]:
    chosen = list(KINDS if kinds is None else dict.fromkeys(kinds))
    if unknown := sorted(set(chosen) - set(KINDS)):
        raise ValueError(f"unknown kinds {unknown}; use {', '.join(KINDS)}")
    return chosen


def _limit(limit: int) -> int:
    if limit < 1:
        raise ValueError("limit must be at least 1")
    return min(limit, MAX_LIMIT)


class GeoReads:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    async def nearby(
        self,
        lat: float,
        lon: float,
        kinds: list[str] | None = None,
        limit: int = 10,
        radius_m: float | None = None,
        only: Mapping[str, Seen] | None = None,
    ) -> list[GeoHit]:
        """The `limit` nearest, nearest first, optionally no farther than `radius_m`; `only`:
        of these kinds, only what a restricted reader sees (every method here takes it)."""
        _check_point(lat, lon)
        if radius_m is not None and radius_m <= 0:
            raise ValueError("radius_m must be positive")
        stop = math.inf if radius_m is None else radius_m
        rows = await self._walk(_kinds(kinds), lat, lon, stop, _limit(limit), only or {})
        return [GeoHit(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]

    async def within_radius(
        self,
        lat: float,
        lon: float,
        radius_m: float,
        kinds: list[str] | None = None,
        limit: int = 200,
        only: Mapping[str, Seen] | None = None,
    ) -> list[GeoHit]:
        """Everything within `radius_m` metres, nearest first (at most `limit`)."""
        if radius_m <= 0:
            raise ValueError("radius_m must be positive")
        return await self.nearby(lat, lon, kinds, limit, radius_m, only)

    async def within_box(
        self,
        south: float,
        west: float,
        north: float,
        east: float,
        kinds: list[str] | None = None,
        limit: int = 200,
        only: Mapping[str, Seen] | None = None,
    ) -> list[GeoHit]:
        """Everything inside the box, nearest its centre first; west > east crosses ±180°."""
        _check_point(south, west)
        _check_point(north, east)
        if south > north:
            raise ValueError("south must not be north of north")
        span = east - west if west <= east else east + 360.0 - west
        lat, lon = (south + north) / 2, (west + span / 2 + 180.0) % 360.0 - 180.0
        # The farthest point of the box from its centre is a corner (for spans up to 180°).
        corners = [(y, x) for y in (south, north) for x in (west, east)]
        stop = max(great_circle_m(lat, lon, y, x) for y, x in corners) * 1.001 + 1.0
        if span > 180.0:
            stop = math.inf

        def inside(row: tuple[Any, ...]) -> bool:
            y, x = float(row[3]), float(row[4])
            in_lon = west <= x <= east if west <= east else (x >= west or x <= east)
            return south <= y <= north and in_lon

        rows = await self._walk(_kinds(kinds), lat, lon, stop, _limit(limit), only or {}, inside)
        return [GeoHit(r[0], r[1], r[2], r[3], r[4], None) for r in rows]

    async def _walk(
        self,
        kinds: list[str],
        lat: float,
        lon: float,
        stop_m: float,
        limit: int,
        only: Mapping[str, Seen],
        keep: Callable[[tuple[Any, ...]], bool] = lambda row: True,
    ) -> list[tuple[Any, ...]]:
        """Each kind's kept rows nearest first up to `stop_m` or `limit`, merged by distance.

        `keep` filters here, not in SQL: a row the scan skipped would not tell us how far it
        has walked, and the walk could only end at the last row of the index.
        """
        found: list[tuple[Any, ...]] = []
        for kind in kinds:
            sql, params = walk_sql(kind, only.get(kind))
            found += await self._nearest(sql, [lat, lon, *params, lat, lon], stop_m, limit, keep)
        return sorted(found, key=lambda row: (row[5], str(row[1])))[:limit]

    async def _nearest(
        self,
        sql: str,
        params: list[Any],
        stop_m: float,
        limit: int,
        keep: Callable[[tuple[Any, ...]], bool],
    ) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        async with self.conn.cursor(name="bsdflow_geo_walk") as cur:
            await cur.execute(sql, params)
            while chunk := await cur.fetchmany(CHUNK):
                for kind_, id_, title, lat, lon, distance in chunk:
                    if distance > stop_m or len(rows) == limit:
                        return rows
                    row = (kind_, id_, title, float(lat), float(lon), float(distance))
                    if keep(row):
                        rows.append(row)
        return rows

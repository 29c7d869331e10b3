"""Geo queries: nearest first, within a radius or a bounding box, with GeoJSON output."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Annotated, cast

import strawberry
from strawberry.scalars import JSON

from projections.entities.queries import ENTITY
from projections.geo import GeoHit as GeoRow
from projections.geo import GeoReads, to_geojson
from projections.occurrences.queries import OCCURRENCE
from read_api.areas import readable_kinds
from read_api.errors import PublicError
from read_api.session import Reads
from read_api.types.common import Info, RowType, field, page_size
from read_api.types.entities import Entity
from read_api.types.occurrences import Occurrence


@strawberry.enum(description="What geo queries can return: the kinds that have a location.")
class GeoKind(Enum):
    ENTITY = "entity"
    OCCURRENCE = "occurrence"


GeoNode = Annotated[Entity | Occurrence, strawberry.union("GeoNode")]


@strawberry.type(description="A located object; `distanceM` is from the query point, if any.")
class GeoHit(GeoRow, RowType[GeoRow]):
    kind: str = strawberry.field(graphql_type=GeoKind)

    @strawberry.field
    async def node(self, info: Info) -> GeoNode | None:
        loaders = info.context.loaders
        if self.kind == GeoKind.ENTITY.value:
            entity = await loaders.of(ENTITY).load(self.id)
            return Entity.of(entity) if entity else None
        occurrence = await loaders.of(OCCURRENCE).load(self.id)
        return Occurrence.of(occurrence) if occurrence else None


@strawberry.type(description="Geo results, as a list and as a GeoJSON FeatureCollection.")
class GeoResult:
    hits: list[GeoHit]
    geojson: JSON

    @staticmethod
    def of(rows: list[GeoRow]) -> GeoResult:
        return GeoResult(hits=[GeoHit.of(row) for row in rows], geojson=JSON(to_geojson(rows)))


def _kinds(info: Info, kinds: list[GeoKind] | None) -> list[str]:
    wanted = [kind.value for kind in kinds] if kinds is not None else None
    return readable_kinds(info.context.require_viewer().grants, wanted, GEO_KINDS)


GEO_KINDS = [kind.value for kind in GeoKind]


async def _geo(info: Info, read: Callable[[Reads], Awaitable[list[GeoRow]]]) -> GeoResult:
    try:
        return GeoResult.of(await info.context.run(read))
    except ValueError as exc:  # out-of-range coordinates, empty box: the caller's mistake
        raise PublicError(str(exc)) from exc


@strawberry.type
class GeoQuery:
    @field(
        "The nearest located objects, nearest first, optionally no farther than `radiusM` metres."
    )
    async def nearby(
        self,
        info: Info,
        lat: float,
        lon: float,
        kinds: list[GeoKind] | None = None,
        first: int = 10,
        radius_m: float | None = None,
    ) -> GeoResult:
        size = page_size(first)
        wanted = _kinds(info, kinds)
        return await _geo(
            info,
            lambda reads: reads.of(GeoReads).nearby(
                lat, lon, wanted, size, radius_m, reads.seen(wanted)
            ),
        )

    @field(
        "Everything within `radiusM` of (lat, lon), nearest first, or "
        "inside the box south/west/north/east (west > east crosses ±180°)."
    )
    async def within(
        self,
        info: Info,
        lat: float | None = None,
        lon: float | None = None,
        radius_m: float | None = None,
        south: float | None = None,
        west: float | None = None,
        north: float | None = None,
        east: float | None = None,
        kinds: list[GeoKind] | None = None,
        first: int = 200,
    ) -> GeoResult:
        size = page_size(first)
        wanted = _kinds(info, kinds)
        circle = (lat, lon, radius_m)
        box = (south, west, north, east)
        if all(v is not None for v in circle) and all(v is None for v in box):
            at = cast("tuple[float, float, float]", circle)
            return await _geo(
                info,
                lambda reads: reads.of(GeoReads).within_radius(
                    *at, wanted, size, reads.seen(wanted)
                ),
            )
        if all(v is not None for v in box) and all(v is None for v in circle):
            edges = cast("tuple[float, float, float, float]", box)
            return await _geo(
                info,
                lambda reads: reads.of(GeoReads).within_box(
                    *edges, wanted, size, reads.seen(wanted)
                ),
            )
        raise PublicError("give either lat, lon and radiusM, or south, west, north and east")

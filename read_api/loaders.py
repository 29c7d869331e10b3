"""DataLoaders: every reference in a response is fetched in one query per kind, not one per row.

Loaders live on the request context and are made on first use from what the read models
declare: `of(feed)` reads objects by id (through the Redis hot cache for the feeds marked
`cached`), `lists(...)` reads what hangs off an object (its documents, its stage history…).
The entity-type list is the one loader of its own: the whole list is cached and types by id are
taken from it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from strawberry.dataloader import DataLoader

from projections.base import Feed
from projections.entities.queries import EntityReads, EntityTypeRow
from read_api.areas import area_of
from read_api.cache import Codec

if TYPE_CHECKING:
    from read_api.context import Context

Q = TypeVar("Q")
V = TypeVar("V")
ENTITY_TYPES = Codec[list[EntityTypeRow]](list[EntityTypeRow])
_CODECS: dict[Feed[Any, Any], Codec[Any]] = {}


def codec_of(feed: Feed[Any, V]) -> Codec[V]:
    found = _CODECS.get(feed)
    if found is None:
        found = _CODECS[feed] = Codec[V](feed.row)
    return cast("Codec[V]", found)


async def _nothing(ids: list[UUID]) -> list[Any]:
    return [None] * len(ids)


class Loaders:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.cache = not ctx.transient  # a websocket's loaders must not serve old states later
        self._loaders: dict[object, DataLoader[UUID, Any]] = {}
        self.entity_type = DataLoader[UUID, EntityTypeRow | None](
            self._entity_types, cache=self.cache
        )
        self._all_types: list[EntityTypeRow] | None = None

    @property
    def tenant_id(self) -> UUID:
        return self.ctx.require_viewer().tenant_id

    def of(self, feed: Feed[Any, V]) -> DataLoader[UUID, V | None]:
        """The request's loader of one kind of object by id."""
        found = self._loaders.get(feed)
        if found is None:
            area = area_of(feed.reads)
            grants = self.ctx.require_viewer().grants
            load: Callable[[list[UUID]], Awaitable[list[V | None]]]
            if area is not None and not grants.reads(area):
                load = _nothing  # what one may not read is, to its reader, not there
            elif feed.cached and (area is None or grants.scope(area) is None):
                load = self._cached(feed)
            else:  # the shared cache holds whole rows: a restricted reader reads its own
                load = self._read(feed)
            found = self._loaders[feed] = DataLoader[UUID, V | None](load, cache=self.cache)
        return cast("DataLoader[UUID, V | None]", found)

    def lists(
        self, reads: type[Q], read: Callable[[Q, list[UUID]], Awaitable[Mapping[UUID, list[V]]]]
    ) -> DataLoader[UUID, list[V]]:
        """The request's loader of what hangs off objects, by their ids (none: an empty list)."""
        found = self._loaders.get(read)
        if found is None:

            async def load(ids: list[UUID]) -> list[list[V]]:
                rows = await self.ctx.run(lambda r: read(r.of(reads), ids))
                return [rows.get(i, []) for i in ids]

            found = self._loaders[read] = DataLoader[UUID, list[V]](load, cache=self.cache)
        return cast("DataLoader[UUID, list[V]]", found)

    def _read(self, feed: Feed[Any, V]) -> Callable[[list[UUID]], Awaitable[list[V | None]]]:
        async def load(ids: list[UUID]) -> list[V | None]:
            found = await self.ctx.run(lambda r: feed.by_ids(r.of(feed.reads), ids))
            return [found.get(i) for i in ids]

        return load

    def _cached(self, feed: Feed[Any, V]) -> Callable[[list[UUID]], Awaitable[list[V | None]]]:
        async def load(ids: list[UUID]) -> list[V | None]:
            async def from_db(missing: list[UUID]) -> dict[UUID, V]:
                found = await self.ctx.run(lambda r: feed.by_ids(r.of(feed.reads), missing))
                return dict(found)

            cached = await self.ctx.api.cache.many(
                feed.kind, self.tenant_id, ids, codec_of(feed), from_db
            )
            return [cached.get(i) for i in ids]

        return load

    async def entity_types(self) -> list[EntityTypeRow]:
        """The tenant's entity types, by name (cached in Redis, invalidated on any change)."""
        if self._all_types is None or self.ctx.transient:

            async def from_db() -> list[EntityTypeRow]:
                return await self.ctx.run(lambda r: r.of(EntityReads).types())

            if self.ctx.require_viewer().grants.scope("entities") is not None:
                self._all_types = await from_db()  # its own list, not the tenant's cached one
            else:
                self._all_types = await self.ctx.api.cache.one(
                    "entity_types", self.tenant_id, "all", ENTITY_TYPES, from_db
                )
        return self._all_types

    async def _entity_types(self, ids: list[UUID]) -> list[EntityTypeRow | None]:
        by_id = {row.id: row for row in await self.entity_types()}
        missing = [i for i in ids if i not in by_id]
        if missing:  # defined after the list was cached, before its invalidation arrived
            by_id.update(await self.ctx.run(lambda r: r.of(EntityReads).types_by_ids(missing)))
        return [by_id.get(i) for i in ids]

    async def many(self, loader: DataLoader[UUID, V | None], ids: Sequence[UUID]) -> list[V]:
        """The rows that exist, in the order of `ids`."""
        rows = await loader.load_many(list(ids))
        return [row for row in rows if row is not None]

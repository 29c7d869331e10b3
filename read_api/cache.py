"""Read-through cache for hot reads (entities by id, the entity-type list), shared in Redis.

Keys are `projections.notify.cache_key(kind, tenant, key)`; the projection worker deletes them
right after each commit (`Change.cache_keys`), before it announces the new position. A miss
takes a lease on the key before reading PostgreSQL and writes the value back only if the lease
survived, so a read that raced a commit never re-inserts the old row after the delete: once a
request has seen a position (read-your-writes), the cache cannot serve anything older.

The cache is an optimisation: if Redis fails, reads go to PostgreSQL and the error is logged.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar
from uuid import UUID

import orjson
from pydantic import TypeAdapter

from projections.notify import cache_key
from read_api.ports import CacheStore

log = logging.getLogger("bsdflow.read_api.cache")
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Codec(Generic[V]):
    """A cached value as bytes: orjson out, and back into its type (a read model's row type, or
    a list of them) by pydantic, from the type's own annotations."""

    def __init__(self, shape: Any) -> None:
        self._adapter: TypeAdapter[V] = TypeAdapter(shape)

    def encode(self, value: V) -> bytes:
        return orjson.dumps(value)

    def decode(self, raw: bytes) -> V:
        return self._adapter.validate_json(raw)


class HotCache:
    def __init__(self, store: CacheStore, ttl_seconds: int = 300, lease_ms: int = 5_000) -> None:
        self.store = store
        self.ttl_seconds = ttl_seconds
        self.lease_ms = lease_ms

    async def many(
        self,
        kind: str,
        tenant_id: UUID,
        keys: Sequence[K],
        codec: Codec[V],
        load: Callable[[list[K]], Awaitable[dict[K, V]]],
    ) -> dict[K, V]:
        """Cached values for `keys`; the misses come from `load` (absent keys stay absent)."""
        names = [cache_key(kind, tenant_id, str(key)) for key in keys]
        token = f"lease:{uuid.uuid4().hex}"
        try:
            cached = await self.store.lease(names, token, self.lease_ms)
        except Exception:
            log.warning("cache unavailable; reading the database", exc_info=True)
            return await load(list(keys))
        found: dict[K, V] = {}
        missing: list[K] = []
        for key, raw in zip(keys, cached, strict=True):
            if raw is None:
                missing.append(key)
            else:
                found[key] = codec.decode(raw)
        if missing:
            loaded = await load(missing)
            found.update(loaded)
            fill = {
                cache_key(kind, tenant_id, str(key)): codec.encode(value)
                for key, value in loaded.items()
            }
            if fill:
                try:
                    await self.store.fill(fill, token, self.ttl_seconds)
                except Exception:
                    log.warning("cache fill failed", exc_info=True)
        return found

    async def one(
        self,
        kind: str,
        tenant_id: UUID,
        key: K,
        codec: Codec[V],
        load: Callable[[], Awaitable[V]],
    ) -> V:
        async def load_one(_: list[K]) -> dict[K, V]:
            return {key: await load()}

        return (await self.many(kind, tenant_id, [key], codec, load_one))[key]

"""Composition of the GraphQL read API: reader pool, Redis client, pub/sub fan-out, router.

`mount_graphql(app, runtime)` adds `/graphql` to the ASGI app. The connections open in the
serving event loop: at startup under a server (lifespan), or on the first GraphQL request when
the app is driven without a lifespan (httpx's ASGITransport in tests); `GraphQLServices.close`
releases them (lifespan shutdown, or the test that built the app).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import orjson
import psycopg
import redis.asyncio as aioredis
import structlog
from fastapi import FastAPI
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool
from pydantic_settings import BaseSettings, SettingsConfigDict

from commands.auth import TokenCodec, Unauthenticated
from infra.docs import graphiql_page, mount_graphiql_assets
from infra.gc_tuning import tune_for_many_sockets
from infra.readdb import READER_ROLE
from infra.runtime import Runtime
from projections.notify import POSITIONS_CHANNEL, changes_channel
from projections.registry import PROJECTIONS
from read_api.cache import HotCache
from read_api.context import ReadApi, ReadApiConfig
from read_api.fanout import Fanout
from read_api.freshness import Watermark
from read_api.ports import NotAuthenticated, TokenReader, Viewer
from read_api.response_cache import Answers, ResponseCache
from read_api.schema import build_router

log = structlog.get_logger("bsdflow.graphql")


class GraphQLSettings(BaseSettings):
    """`BSDFLOW_GRAPHQL_*`; introspection and GraphiQL default to on in dev."""

    model_config = SettingsConfigDict(env_prefix="BSDFLOW_GRAPHQL_", extra="ignore")

    introspection: bool | None = None
    graphiql: bool | None = None
    report_statements: bool = False
    response_cache_entries: int = 2_048
    response_cache_max_bytes: int = 262_144
    timeout: float = 5.0
    """Default longest wait for read-your-writes (seconds)."""
    max_timeout: float = 30.0
    """Longest wait of one request, however many waits it asks for (seconds)."""
    max_waits_per_tenant: int = 32
    """Read-your-writes waits one tenant may have in progress per API process."""
    max_document_bytes: int = 65_536
    """Query documents above this are refused before parsing (HTTP 413, BAD_REQUEST)."""
    statement_timeout_ms: int = 5_000
    max_depth: int = 10
    max_tokens: int = 2_000
    max_aliases: int = 15
    subscriber_queue: int = 256
    max_subscriptions_per_connection: int = 20
    fast_lists: bool = True
    cache_ttl: int = 300
    pool_min: int = 2
    pool_max: int = 16

    def config(self, dev: bool) -> ReadApiConfig:
        return ReadApiConfig(
            freshness_timeout=self.timeout,
            max_freshness_timeout=self.max_timeout,
            max_waits_per_tenant=self.max_waits_per_tenant,
            max_document_bytes=self.max_document_bytes,
            statement_timeout_ms=self.statement_timeout_ms,
            max_depth=self.max_depth,
            max_tokens=self.max_tokens,
            max_aliases=self.max_aliases,
            introspection=dev if self.introspection is None else self.introspection,
            graphiql=dev if self.graphiql is None else self.graphiql,
            report_statements=self.report_statements,
            response_cache_entries=0 if self.report_statements else self.response_cache_entries,
            response_cache_max_bytes=self.response_cache_max_bytes,
            subscriber_queue=self.subscriber_queue,
            max_subscriptions_per_connection=self.max_subscriptions_per_connection,
            fast_lists=self.fast_lists,
        )


def token_reader(codec: TokenCodec) -> TokenReader:
    def read(authorization: str | None) -> Viewer:
        try:
            principal = codec.principal(authorization)
        except Unauthenticated as exc:
            raise NotAuthenticated(str(exc)) from exc
        return Viewer(principal.tenant_id, principal.actor, principal.roles, principal.expires_at)

    return read


LEASE = """
local out = {}
for i, key in ipairs(KEYS) do
    local value = redis.call('GET', key)
    if not value then
        redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
        out[i] = false
    elseif string.sub(value, 1, 6) == 'lease:' then
        out[i] = false
    else
        out[i] = value
    end
end
return out
"""
FILL = """
for i, key in ipairs(KEYS) do
    if redis.call('GET', key) == ARGV[1] then
        redis.call('SET', key, ARGV[i + 2], 'EX', ARGV[2])
    end
end
return 0
"""


class RedisCacheStore:
    """`read_api.ports.CacheStore` on Redis: lease and fill are Lua scripts (atomic)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._lease = client.register_script(LEASE)
        self._fill = client.register_script(FILL)

    async def lease(self, keys: Sequence[str], token: str, lease_ms: int) -> list[bytes | None]:
        found: list[bytes | None] = await self._lease(keys=list(keys), args=[token, lease_ms])
        return found

    async def fill(self, values: Mapping[str, bytes], token: str, ttl_seconds: int) -> None:
        await self._fill(keys=list(values), args=[token, ttl_seconds, *values.values()])


class RedisChanges:
    """`read_api.ports.ChangeSource`: one pub/sub connection for every tenant's changes."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self._pubsub: Any = None

    async def subscribe(self) -> None:
        pubsub = self.client.pubsub()
        await pubsub.psubscribe(changes_channel("*"))
        await pubsub.subscribe(POSITIONS_CHANNEL)
        confirmed = 0
        while confirmed < 2:  # wait for the server's confirmations
            message = await pubsub.get_message(timeout=5.0)
            if message is None:
                raise ConnectionError("Redis did not confirm the subscriptions")
            confirmed += message["type"] in ("subscribe", "psubscribe")
        self._pubsub = pubsub

    async def messages(self) -> AsyncIterator[tuple[str, bytes]]:
        async for message in self._pubsub.listen():
            if message["type"] in ("message", "pmessage"):
                yield message["channel"].decode(), message["data"]

    async def close(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            await pubsub.aclose()


def checkpoint_reader(database_url: str, projections: Sequence[str]) -> Any:
    """Reads `rm_<name>._checkpoint` as the owner (the reader role cannot see them)."""

    async def read() -> dict[str, int]:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            found: dict[str, int] = {}
            for name in projections:
                table = f"rm_{name}._checkpoint"
                cur = await conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,))
                exists = await cur.fetchone()
                if exists and exists[0]:
                    cur = await conn.execute(f"SELECT coalesce(max(position), 0) FROM {table}")  # noqa: S608
                    row = await cur.fetchone()
                    found[name] = int(row[0]) if row else 0
            return found

    return read


async def _as_reader(conn: psycopg.AsyncConnection[Any]) -> None:
    """Every pooled connection reads as the RLS-bound role; JSONB is parsed by orjson."""
    set_json_loads(orjson.loads, conn)
    await conn.execute(f"SET ROLE {READER_ROLE}")
    await conn.commit()


class GraphQLServices:
    """The long-lived resources behind `/graphql`, opened in the serving event loop."""

    def __init__(self, runtime: Runtime, settings: GraphQLSettings) -> None:
        database_url = runtime.urls.database_url
        self.pool = AsyncConnectionPool(
            database_url,
            min_size=settings.pool_min,
            max_size=settings.pool_max,
            open=False,
            configure=_as_reader,
            name="graphql-reader",
        )
        self.redis = aioredis.Redis.from_url(runtime.urls.redis_url)
        names = list(PROJECTIONS)
        watermark = Watermark(names, checkpoint_reader(database_url, names))
        config = settings.config(dev=runtime.settings.env == "dev")
        self.fanout = Fanout(RedisChanges(self.redis), watermark, config.subscriber_queue)
        self.api = ReadApi(
            config=config,
            pool=self.pool,
            tokens=token_reader(runtime.tokens),
            cache=HotCache(RedisCacheStore(self.redis), ttl_seconds=settings.cache_ttl),
            watermark=watermark,
            fanout=self.fanout,
            start=self._start,
        )
        self.answers = Answers(config.response_cache_entries, config.response_cache_max_bytes)
        self._opened = False

    async def _start(self) -> None:
        await self.pool.open(wait=True)
        self._opened = True
        await self.fanout.start()

    async def warm_up(self) -> None:
        """Open everything at startup; if the read side is not migrated yet, the first request
        retries (the server must start anyway)."""
        try:
            await self.api.ready()
        except Exception:
            log.warning(
                "GraphQL read API not ready yet; the first request will retry", exc_info=True
            )

    async def close(self) -> None:
        await self.fanout.close()
        if self._opened:
            await self.pool.close()
        await self.redis.aclose()


def mount_graphql(app: FastAPI, runtime: Runtime, settings: GraphQLSettings) -> None:
    services = GraphQLServices(runtime, settings)
    app.state.graphql = services
    ide_page = None
    if services.api.config.graphiql:
        mount_graphiql_assets(app)
        ide_page = graphiql_page()
    app.include_router(build_router(services.api, ide_page), prefix="/graphql", tags=["graphql"])
    app.add_middleware(ResponseCache, api=services.api, answers=services.answers)
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        async with inner(app) as state:
            tune_for_many_sockets()
            warming = asyncio.ensure_future(services.warm_up())
            try:
                yield state
            finally:
                warming.cancel()
                await services.close()

    app.router.lifespan_context = lifespan

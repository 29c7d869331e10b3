"""Composition of the GraphQL read API: reader pool, Redis client, pub/sub fan-out, router.

`mount_graphql(app, runtime, settings)` adds `/graphql` to the ASGI app. The connections open in the
serving event loop: at startup under a server (lifespan), or on the first GraphQL request when
the app is driven without a lifespan (httpx's ASGITransport in tests); `GraphQLServices.close`
releases them (lifespan shutdown, or the test that built the app).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any
from uuid import UUID
from weakref import WeakKeyDictionary

import orjson
import psycopg
import redis.asyncio as aioredis
import structlog
from fastapi import FastAPI
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool

from commands.access import AccessBook
from commands.auth import Principal, TokenCodec, Unauthenticated
from infra.docs import graphiql_page, mount_graphiql_assets
from infra.gc_tuning import tune_for_many_sockets
from infra.key_usage import RedisKeyUsageReads, usage_prefix
from infra.llm import ChatCompletions
from infra.past_states import past_states
from infra.readdb import READER_ROLE
from infra.redis_adapters import (
    AsyncRedisTokenBucket,
    RedisCacheStore,
    RedisChanges,
    rate_prefix,
)
from infra.runtime import Runtime
from infra.settings import GraphQLSettings
from infra.simulation import simulator
from infra.tenant_quotas import tenant_quotas
from projections.base import schema_named
from projections.registry import PROJECTIONS
from read_api.cache import HotCache
from read_api.context import ReadApi
from read_api.fanout import Fanout
from read_api.freshness import Watermark
from read_api.ports import NotAuthenticated, TokenReader, Viewer
from read_api.quotas import Quotas
from read_api.response_cache import KeptResponses, ResponseCache
from read_api.schema import build_router

log = structlog.get_logger("bsdflow.graphql")


def token_reader(codec: TokenCodec, book: AccessBook) -> TokenReader:
    def read(authorization: str | None) -> Viewer:
        try:
            principal = codec.principal(authorization)
        except Unauthenticated as exc:
            raise NotAuthenticated(str(exc)) from exc
        grants = book.grants(principal)
        return Viewer(
            principal.tenant_id, principal.actor, grants, principal.expires_at, principal.claims
        )

    return read


def checkpoint_reader(database_url: str, projections: Sequence[str]) -> Any:
    """Reads each projection's `_checkpoint` as the owner (the reader role cannot see them)."""

    async def read() -> dict[str, int]:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            found: dict[str, int] = {}
            for name in projections:
                table = f"{schema_named(name)}._checkpoint"
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
        self.book = runtime.commands.book
        llm = runtime.settings.llm
        self.assistant = (
            ChatCompletions(
                llm,
                self.redis,
                runtime.commands.assistant_calls(Principal.system("bsdflow-assistant")),
                runtime.settings.events_topic,
            )
            if llm.url
            else None
        )
        names = list(PROJECTIONS)
        watermark = Watermark(names, checkpoint_reader(database_url, names))
        config = settings.for_env(dev=runtime.settings.env == "dev")
        self.fanout = Fanout(RedisChanges(self.redis), watermark, config.subscriber_queue)
        self.api = ReadApi(
            config=config,
            pool=self.pool,
            tokens=token_reader(runtime.tokens, self.book),
            cache=HotCache(RedisCacheStore(self.redis), ttl_seconds=settings.cache_ttl),
            watermark=watermark,
            fanout=self.fanout,
            start=self._start,
            past=past_states(runtime.store),
            simulate=simulator(runtime.store, database_url),
            assistant=self.assistant,
            key_usage=RedisKeyUsageReads(self.redis, usage_prefix(runtime.settings.events_topic)),
            quotas=Quotas(
                tenant_quotas(runtime.store),
                AsyncRedisTokenBucket(self.redis, rate_prefix(runtime.settings.events_topic)),
            ),
        )
        self.answers = KeptResponses(config.kept_responses, config.response_cache_max_bytes)
        self._tell: Callable[[UUID], None] | None = None
        self._opened = False

    async def _start(self) -> None:
        await self.pool.open(wait=True)
        self._opened = True
        await self.fanout.start()
        loop = asyncio.get_running_loop()

        # Commands run on worker threads: a change of access reaches the sockets in their loop.
        def tell(tenant_id: UUID) -> None:
            loop.call_soon_threadsafe(self.api.access_changed, tenant_id)

        self._tell = tell
        self.book.listeners.append(tell)

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
        if self._tell is not None and self._tell in self.book.listeners:
            self.book.listeners.remove(self._tell)
        await self.fanout.close()
        if self.assistant is not None:
            await self.assistant.close()
        if self._opened:
            await self.pool.close()
        await self.redis.aclose()


_MOUNTED: WeakKeyDictionary[FastAPI, GraphQLServices] = WeakKeyDictionary()


def graphql_services(app: FastAPI) -> GraphQLServices:
    """The read API's resources of an app: its lifespan opens and closes them; an app driven
    without a lifespan (httpx's ASGITransport in tests) is closed with `close()`."""
    return _MOUNTED[app]


def mount_graphql(app: FastAPI, runtime: Runtime, settings: GraphQLSettings) -> GraphQLServices:
    services = _MOUNTED[app] = GraphQLServices(runtime, settings)
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
    return services

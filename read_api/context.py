"""The read API's process-wide services (`ReadApi`) and each request's context.

An HTTP request gets one transaction for all its resolvers (opened on first use, closed when
the operation ends). A websocket connection lives for minutes, so it never holds a connection:
each load it needs runs in a short transaction of its own, and its DataLoaders do not cache
across messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar
from uuid import UUID

from strawberry.fastapi import BaseContext

from read_api.cache import HotCache
from read_api.errors import Forbidden, Unauthenticated
from read_api.fanout import Fanout
from read_api.freshness import Freshness, Watermark
from read_api.loaders import Loaders
from read_api.ports import ConnectionPool, NotAuthenticated, TokenReader, Viewer
from read_api.session import Reads, Session, Stats
from read_api.states import SharedStates
from read_api.waits import Waits

T = TypeVar("T")


@dataclass(frozen=True)
class ReadApiConfig:
    freshness_timeout: float = 5.0
    """Default longest wait for read-your-writes, in seconds."""
    max_freshness_timeout: float = 30.0
    """The longest a request waits, however many waits it asks for."""
    max_waits_per_tenant: int = 32
    """Read-your-writes waits a tenant may have in progress in one process (more: refused)."""
    max_document_bytes: int = 65_536
    """Query documents above this size are refused before parsing (HTTP and websocket)."""
    statement_timeout_ms: int = 5_000
    max_depth: int = 10
    max_tokens: int = 2_000
    max_aliases: int = 15
    introspection: bool = True
    graphiql: bool = True
    report_statements: bool = False
    """Add `extensions.sql.statements` to responses (diagnostics: how tests see N+1)."""
    response_cache_entries: int = 2_048
    """Whole answers kept for repeated queries (0: off; off while statements are reported)."""
    response_cache_max_bytes: int = 262_144
    subscriber_queue: int = 256
    max_subscriptions_per_connection: int = 20
    fast_lists: bool = True
    """Connections of plain fields as JSON built by PostgreSQL (`read_api.fast_lists`)."""


class ReadApi:
    """Everything a request needs that outlives it; built once by the composition root."""

    def __init__(
        self,
        config: ReadApiConfig,
        pool: ConnectionPool,
        tokens: TokenReader,
        cache: HotCache,
        watermark: Watermark,
        fanout: Fanout,
        start: Callable[[], Awaitable[None]],
    ) -> None:
        self.config = config
        self.pool = pool
        self.tokens = tokens
        self.cache = cache
        self.watermark = watermark
        self.fanout = fanout
        self.waits = Waits(config.max_waits_per_tenant)
        self.states = SharedStates(self.session, watermark, config.freshness_timeout)
        self._start = start
        self._started: asyncio.Task[None] | None = None

    async def ready(self) -> None:
        """Open the pool and the pub/sub connection once, in the serving event loop."""
        started = self._started
        if started is None or (
            started.done() and (started.cancelled() or started.exception() is not None)
        ):
            self._started = started = asyncio.ensure_future(self._start())
        await asyncio.shield(started)

    def session(self, tenant_id: UUID, stats: Stats | None = None) -> Session:
        return Session(self.pool, tenant_id, self.config.statement_timeout_ms, stats or Stats())

    def authenticate(self, authorization: str | None) -> Viewer:
        try:
            viewer = self.tokens(authorization)
        except NotAuthenticated as exc:
            raise Unauthenticated(str(exc)) from exc
        if not viewer.may_read:
            raise Forbidden(f"roles {sorted(viewer.roles)} may not read")
        return viewer


class Context(BaseContext):
    def __init__(self, api: ReadApi, *, transient: bool) -> None:
        super().__init__()
        self.api = api
        self.transient = transient
        self.viewer: Viewer | None = None
        self.refusal: Unauthenticated | Forbidden | None = None
        self.stats = Stats()
        self.freshness: Freshness | None = None
        self._session: Session | None = None

    def require_viewer(self) -> Viewer:
        if self.viewer is None:
            raise self.refusal or Unauthenticated("send 'Authorization: Bearer <token>'")
        return self.viewer

    @cached_property
    def loaders(self) -> Loaders:
        return Loaders(self)

    async def run(self, read: Callable[[Reads], Awaitable[T]]) -> T:
        """Run `read` in this request's transaction (or, on a websocket, a short one)."""
        viewer = self.require_viewer()
        if self.transient:
            async with self.api.session(viewer.tenant_id, self.stats) as reads:
                return await read(reads)
        if self._session is None:
            self._session = self.api.session(viewer.tenant_id, self.stats)
        return await read(await self._session.reads())

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

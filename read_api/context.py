"""The read API's process-wide services (`ReadApi`) and each request's context.

An HTTP request gets one transaction for all its resolvers (opened on first use, closed when
the operation ends). A websocket connection lives for minutes, so it never holds a connection:
each load it needs runs in a short transaction of its own, and its DataLoaders do not cache
across messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import cached_property
from typing import TypeVar
from uuid import UUID

from strawberry.fastapi import BaseContext

from projections.paging import MAX_PAGE
from read_api.cache import HotCache
from read_api.changed_rows import ChangedRows
from read_api.config import ReadApiConfig
from read_api.cost import CostRules
from read_api.errors import Forbidden, Unauthenticated
from read_api.fanout import Fanout
from read_api.freshness import Freshness, Watermark
from read_api.loaders import Loaders
from read_api.ports import (
    Assistant,
    ConnectionPool,
    KeyUsage,
    NotAuthenticated,
    PastStates,
    Simulate,
    TokenReader,
    Viewer,
)
from read_api.quotas import Quotas
from read_api.session import Reads, Session, Stats
from read_api.waits import Waits

T = TypeVar("T")
NOT_KEPT = "bsdflow.not_kept"
"""Request scope key: the answer read something no projection commit tells of (API keys' last
use), so the response cache may not keep it."""


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
        past: PastStates,
        quotas: Quotas,
        key_usage: KeyUsage | None = None,
        simulate: Simulate | None = None,
        assistant: Assistant | None = None,
    ) -> None:
        self.config = config
        self.pool = pool
        self.tokens = tokens
        self.cache = cache
        self.watermark = watermark
        self.fanout = fanout
        self.past = past
        self.key_usage = key_usage
        """When API keys were last used (none known without it)."""
        self.quotas = quotas
        self.simulate = simulate
        self.assistant = assistant
        """The language model of LLM assistance (none: assistance is off)."""
        """Replays history through a process action (none: this server does not)."""
        self.cost_rules = CostRules(max_page=MAX_PAGE, unpaged_list=config.unpaged_list_cost)
        self._access_watchers: dict[UUID, set[Callable[[], None]]] = {}
        self.waits = Waits(config.max_waits_per_tenant)
        self.changed_rows = ChangedRows(self.session, watermark, config.timeout)
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

    def session(
        self,
        tenant_id: UUID,
        stats: Stats | None = None,
        reader: Viewer | None = None,
    ) -> Session:
        """A transaction of `tenant_id`, reading what `reader` may (shared loads, such as a
        subscription's, have none: each subscriber's kind is checked before they share)."""
        return Session(
            self.pool, tenant_id, self.config.statement_timeout_ms, stats or Stats(), reader
        )

    def watch_access(self, tenant_id: UUID, changed: Callable[[], None]) -> Callable[[], None]:
        """Call `changed` whenever the tenant's roles or members change; returns the unwatch."""
        watchers = self._access_watchers.setdefault(tenant_id, set())
        watchers.add(changed)
        return lambda: watchers.discard(changed)

    def access_changed(self, tenant_id: UUID) -> None:
        """The tenant's roles or members changed (call in the serving event loop)."""
        for changed in list(self._access_watchers.get(tenant_id, ())):
            changed()

    def authenticate(self, authorization: str | None) -> Viewer:
        try:
            viewer = self.tokens(authorization)
        except NotAuthenticated as exc:
            raise Unauthenticated(str(exc)) from exc
        if not viewer.grants.reads_anything:
            raise Forbidden(f"roles {list(viewer.grants.roles)} may not read")
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

    def not_kept(self) -> None:
        """This answer may not be kept by the response cache (see `NOT_KEPT`)."""
        if self.request is not None:
            self.request.scope[NOT_KEPT] = True

    @cached_property
    def loaders(self) -> Loaders:
        return Loaders(self)

    async def run(self, read: Callable[[Reads], Awaitable[T]]) -> T:
        """Run `read` in this request's transaction (or, on a websocket, a short one)."""
        viewer = self.require_viewer()
        if self.transient:
            async with self.api.session(viewer.tenant_id, self.stats, viewer) as r:
                return await read(r)
        if self._session is None:
            self._session = self.api.session(viewer.tenant_id, self.stats, viewer)
        return await read(await self._session.reads())

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

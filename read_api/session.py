"""One read transaction on a reader connection, with the tenant set for row-level security.

The pool's connections act as `bsdflow_reader` (set when the pool opens them); each session
sets `bsdflow.tenant_id` with `set_config(..., true)`, which lasts until the transaction ends, so
a connection never carries one tenant's setting into another tenant's request. The setting is
pipelined with the session's first statement (same transaction, one round trip). Queries never
filter by tenant themselves: PostgreSQL does.

Statements are counted per session (a cursor subclass), which is how tests prove that nested
lists cost a constant number of queries, not 1 + N.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast
from uuid import UUID
from weakref import WeakKeyDictionary

import psycopg
from psycopg import AsyncCursor, AsyncServerCursor

from projections.documents.queries import DocumentReads
from projections.seen import Seen
from read_api.areas import KIND_AREAS, KIND_READS, area_of
from read_api.errors import Forbidden
from read_api.ports import ConnectionPool, Viewer

T = TypeVar("T")
Q = TypeVar("Q")
Conn = psycopg.AsyncConnection[Any]
SET_TENANT = (
    "SELECT set_config('bsdflow.tenant_id', %s, true), set_config('statement_timeout', %s, true)"
)


@dataclass
class Stats:
    statements: int = 0


_STATS: WeakKeyDictionary[Conn, Stats] = WeakKeyDictionary()


@dataclass
class _Pending:
    """A session's tenant settings, not sent yet: they go with its first statement."""

    params: tuple[str, str]
    sending: bool = False
    sent: asyncio.Event = field(default_factory=asyncio.Event)


_PENDING: WeakKeyDictionary[Conn, _Pending] = WeakKeyDictionary()


def _count(conn: Conn) -> None:
    stats = _STATS.get(conn)
    if stats is not None:
        stats.statements += 1


async def _after_settings(
    conn: Conn, statement: Callable[[], Awaitable[T]], *, pipelined: bool
) -> T:
    """Run `statement` inside the session's transaction, once its settings are in force.

    The session's connection is in autocommit mode, so psycopg sends no BEGIN of its own: the
    first statement takes BEGIN and the settings along in one pipeline, one round trip instead
    of three (a pipeline stops at its first error, so nothing runs without the tenant). A
    statement that cannot be pipelined (a named cursor, executemany) goes after them.
    Statements started meanwhile (resolvers run concurrently) wait for the first one."""
    pending = _PENDING.get(conn)
    if pending is None:
        return await statement()
    if pending.sending:
        await pending.sent.wait()
        return await statement()
    pending.sending = True
    _count(conn)
    settings = AsyncCursor[Any](conn)  # not a CountingCursor: it would wait for itself
    try:
        async with conn.pipeline():
            await settings.execute(b"BEGIN")
            await settings.execute(SET_TENANT, pending.params)
            if pipelined:
                return await statement()  # its results arrive as the pipeline ends
        return await statement()
    finally:
        _PENDING.pop(conn, None)
        pending.sent.set()


class CountingCursor(AsyncCursor[Any]):
    """Counts the statements sent on a connection while a session has it, the session's
    settings first (`_after_settings`)."""

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        _count(self.connection)
        execute = super().execute
        return await _after_settings(
            self.connection, lambda: execute(*args, **kwargs), pipelined=True
        )

    async def executemany(self, *args: Any, **kwargs: Any) -> None:
        _count(self.connection)
        executemany = super().executemany
        await _after_settings(
            self.connection, lambda: executemany(*args, **kwargs), pipelined=False
        )


class SettingsServerCursor(AsyncServerCursor[Any]):
    """A named cursor (`DECLARE … CURSOR`) cannot be pipelined; it still waits for the
    session's settings."""

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        _count(self.connection)
        execute = super().execute
        return await _after_settings(
            self.connection, lambda: execute(*args, **kwargs), pipelined=False
        )


class Reads:
    """The read models' query interfaces, bound to one tenant-scoped transaction, each opened
    only for a reader granted its area, and restricted to what its grants show of it."""

    def __init__(self, conn: Conn, reader: Viewer | None = None) -> None:
        self.conn = conn
        self.reader = reader
        """None: bsdflow's own reads (a shared load, checked by whoever takes its rows)."""
        self._queries: dict[Callable[[Conn], Any], Any] = {}

    def of(self, queries: Callable[[Conn], Q]) -> Q:
        """The one instance of a read model's query class for this transaction."""
        found = self._queries.get(queries)
        if found is None:
            found = self._queries[queries] = self._opened(queries)
        return cast("Q", found)

    def _opened(self, queries: Callable[[Conn], Q]) -> Q:
        area, reader = area_of(queries), self.reader
        if area is None or reader is None:
            return queries(self.conn)
        if not reader.grants.reads(area):
            raise Forbidden(f"no role of yours grants read:{area}")
        opened = queries(self.conn)
        scope = reader.grants.scope(area)
        if scope is not None:
            restrict = getattr(opened, "restrict", None)
            if restrict is None:  # cannot happen: only areas whose queries restrict take scopes
                raise Forbidden(f"read:{area} cannot be restricted")
            restrict(scope, reader.actor, reader.claims)
        only_targets = getattr(opened, "only_targets", None)
        if only_targets is not None:  # what is attached to a record is read as that record is
            kinds = [
                kind for kind, area in KIND_AREAS.items() if area and reader.grants.reads(area)
            ]
            only_targets(kinds, self.seen([k for k in kinds if KIND_READS[k] is not queries]))
        return opened

    def seen(self, kinds: Sequence[str]) -> dict[str, Seen]:
        """Of `kinds` (each one the reader reads), what it sees of those it reads only in part,
        for reads spanning kinds: their own read models say (`seen`)."""
        found: dict[str, Seen] = {}
        reader = self.reader
        if reader is None:
            return found
        for kind in kinds:
            area = KIND_AREAS.get(kind)
            if area is None or reader.grants.scope(area) is None:
                continue
            seen = getattr(self.of(KIND_READS[kind]), "seen", None)
            if seen is None:  # fail closed: a read model that cannot say shows none of it
                raise Forbidden(f"your read of {area} is restricted, which this query cannot apply")
            if (shown := seen()) is not None:
                found[kind] = shown
        if reader.grants.scoped and "document" in kinds:  # seen as the records they belong to
            found["document"] = self.of(DocumentReads).seen()
        return found


@dataclass
class Session:
    """Takes a connection on first use, so a request that fails early never holds one."""

    pool: ConnectionPool
    tenant_id: UUID
    statement_timeout_ms: int
    stats: Stats = field(default_factory=Stats)
    reader: Viewer | None = None
    _reads: Reads | None = None
    _exit: contextlib.AsyncExitStack | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def reads(self) -> Reads:
        if self._reads is not None:
            return self._reads
        async with self._lock:
            if self._reads is None:
                self._reads = await self._open()
        return self._reads

    async def _open(self) -> Reads:
        stack = contextlib.AsyncExitStack()
        try:
            conn = await stack.enter_async_context(self.pool.connection())
            await conn.set_autocommit(True)  # the transaction starts with the settings
            conn.cursor_factory = CountingCursor
            conn.server_cursor_factory = SettingsServerCursor
            _STATS[conn] = self.stats
            stack.callback(_STATS.pop, conn, None)
            _PENDING[conn] = _Pending((str(self.tenant_id), str(self.statement_timeout_ms)))
            stack.callback(_PENDING.pop, conn, None)
        except BaseException:
            await stack.aclose()
            raise
        self._exit = stack
        return Reads(conn, self.reader)

    async def close(self) -> None:
        """Ends the transaction (read only: commit and rollback are the same; the pool commits
        whatever is open, autocommit or not) and frees the connection."""
        stack, self._exit, self._reads = self._exit, None, None
        if stack is not None:
            await stack.aclose()

    async def __aenter__(self) -> Reads:
        return await self.reads()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

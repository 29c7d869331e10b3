"""What the read API needs from the outside world, as Protocols the composition root fills in.

read_api may not import infra, redis or commands: tokens, the connection pool, the Redis cache
and the pub/sub connection arrive as objects that satisfy these shapes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import orjson
import psycopg

from domain.grants import Grants


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is reading: the tenant comes only from the verified token, the grants from the
    tenant's roles."""

    tenant_id: UUID
    actor: str
    grants: Grants
    expires_at: float | None = None
    """The token's expiry (seconds since the epoch): a websocket is closed then."""
    claims: Mapping[str, Any] = field(default_factory=dict)
    """The token's other claims: a row rule's `me.claims.…`."""

    @property
    def sight(self) -> bytes:
        """Equal for two readers who see exactly the same: their grants, and, under a row
        rule (which may use the reader's own values), the reader itself. Shared answers and
        shared subscriptions are keyed by it."""
        sees = self.grants.fingerprint.encode()
        if self.grants.scoped:
            sees += orjson.dumps([self.actor, self.claims], option=orjson.OPT_SORT_KEYS)
        return sees


@dataclass(frozen=True, slots=True)
class PastState:
    """A record as it was at a position of the log, rebuilt from its events."""

    kind: str
    """The record's aggregate: Entity, Process, Participant, …"""
    version: int
    position: int
    """Where its event of that version is in the log."""
    at: datetime
    """When that event was recorded."""
    created_at: datetime
    """When its first event was recorded."""
    state: dict[str, Any]


PastStates = Callable[[UUID, UUID, int], Awaitable[PastState | None]]


@dataclass(frozen=True, slots=True)
class SimulatedRun:
    """A run a proposed process action would have planned, and why."""

    trigger_key: str
    """As a live run's: the triggering event (and step, and recipient)."""
    planned_at: datetime
    action_id: UUID
    event: str
    position: int
    record_id: UUID
    recipient_id: UUID | None
    step: str | None
    conditional: bool
    """A follow-up whose condition would have been checked when it fell due."""


@dataclass(frozen=True, slots=True)
class Simulation:
    runs: list[SimulatedRun]
    events: int
    """The tenant's events of the trigger's kind replayed."""
    seconds: float
    truncated: bool
    """More runs would have been planned than were asked for."""


Simulate = Callable[
    [UUID, dict[str, Any], datetime | None, datetime | None, int], Awaitable[Simulation]
]
"""(tenant, a checked process action definition, since, until, at most this many runs)."""
"""(tenant, record, position) → the record then; None if it did not exist yet, or belongs to
another tenant, or is of a kind that is not shown."""


class NotAuthenticated(Exception):
    """The bearer token is missing, malformed, expired or signed by someone else."""


TokenReader = Callable[[str | None], Viewer]
"""`Authorization` header value → Viewer; raises NotAuthenticated."""

CheckpointReader = Callable[[], Awaitable[Mapping[str, int]]]
"""Projection name → last applied position, read from the checkpoint tables as their owner."""


class KeyUsage(Protocol):
    """When API keys were last used (noted by the command side, never an event)."""

    async def last_used(self, tenant_id: UUID, key_ids: Sequence[UUID]) -> dict[UUID, datetime]:
        """The keys of `key_ids` used at least once, with when last."""


class ConnectionPool(Protocol):
    """A psycopg async pool whose connections already act as the read-only reader role."""

    def connection(
        self, timeout: float | None = None
    ) -> AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]: ...


class CacheStore(Protocol):
    """Shared cache with leases, so a reader never writes back a value older than a delete.

    `lease` returns the cached value of each key, or None; for a key that was absent it also
    takes a short lease (marker `token`). `fill` stores a value only where our lease is still
    in place: a delete (commit invalidation) in between removes the lease and the stale value
    is never written.
    """

    async def lease(self, keys: Sequence[str], token: str, lease_ms: int) -> list[bytes | None]: ...

    async def fill(self, values: Mapping[str, bytes], token: str, ttl_seconds: int) -> None: ...


class ChangeSource(Protocol):
    """One pub/sub connection: change notifications of every tenant and projection positions."""

    async def subscribe(self) -> None:
        """Subscribe; returns once the server has confirmed, so no later message is missed."""

    def messages(self) -> AsyncIterator[tuple[str, bytes]]:
        """(channel, payload) pairs, in the order the server delivered them."""

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ReadQuotas:
    """A tenant's read-side limits (its settings `graphql_cost_per_request`,
    `graphql_cost_per_minute`, `subscriptions`)."""

    cost_per_request: int
    cost_per_minute: int
    subscriptions: int


TenantQuotas = Callable[[UUID], Awaitable[ReadQuotas]]
"""Tenant → its read quotas (the defaults for a tenant that does not exist)."""


class Budget(Protocol):
    """Token buckets shared by every API process (the commands' rate limiter, awaited)."""

    async def take(self, key: str, rate_per_second: float, burst: int, tokens: int) -> float:
        """0 if `tokens` were taken now, else the seconds until they will be (none taken)."""


@dataclass(frozen=True, slots=True)
class Completion:
    """A language model's answer: its text, and what it cost."""

    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int


class AssistantUnavailable(Exception):
    """No answer from the language model (not configured, over budget, timed out, refused,
    or not the JSON asked for): `message` says which, in words a user can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Assistant(Protocol):
    """A language model behind an OpenAI-compatible chat-completions endpoint. Every call is
    recorded (who, which feature, model, tokens, latency) and counted against the tenant's
    budget; the prompt holds only what the caller may read (the features build it so)."""

    async def complete(
        self,
        viewer: Viewer,
        feature: str,
        messages: list[dict[str, str]],
        schema: dict[str, Any] | None = None,
    ) -> Completion:
        """The model's answer; with `schema`, asked for (and checked to be) JSON of it."""

    def stream(
        self, viewer: Viewer, feature: str, messages: list[dict[str, str]]
    ) -> AsyncIterator[str]:
        """The model's answer, piece by piece."""

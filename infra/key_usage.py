"""API keys' last use, in one Redis hash per tenant (key id → Unix seconds): written by the
command side's key book (coalesced there), read by the GraphQL `apiKeys` field. Never an event:
a use is not a change anyone made, and one event per request would swamp the store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

import redis
import redis.asyncio as aioredis
import structlog

log = structlog.get_logger("bsdflow.api_keys")

# Processes may note uses out of order: the later time wins.
_LATER = """
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
if old == nil or old < tonumber(ARGV[2]) then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 0
"""


def _hash(prefix: str, tenant_id: UUID) -> str:
    return f"{prefix}{tenant_id}"


class RedisKeyUsage:
    """The command side's KeyUsage port."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.prefix = prefix
        self._later = client.register_script(_LATER)

    def used(self, tenant_id: UUID, key_id: UUID, at: float) -> None:
        try:
            self._later(keys=[_hash(self.prefix, tenant_id)], args=[str(key_id), int(at)])
        except redis.RedisError:
            # The request goes on: a missed note only makes lastUsedAt older.
            log.warning("API key use not noted", key_id=str(key_id), exc_info=True)


class RedisKeyUsageReads:
    """The read API's KeyUsage port."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    async def last_used(self, tenant_id: UUID, key_ids: Sequence[UUID]) -> dict[UUID, datetime]:
        if not key_ids:
            return {}
        values = await self.client.hmget(_hash(self.prefix, tenant_id), [str(k) for k in key_ids])
        return {
            key_id: datetime.fromtimestamp(int(value), UTC)
            for key_id, value in zip(key_ids, values, strict=True)
            if value is not None
        }


def usage_prefix(events_topic: str) -> str:
    """Per installation (its events topic), as the rate buckets: installations sharing a Redis
    share no keys' uses."""
    return f"bsdflow:key-used:{events_topic}:"

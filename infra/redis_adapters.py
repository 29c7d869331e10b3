"""The Redis adapters of the ports: locks (commands), token buckets (commands, delivery, the
read API's query budgets), the hot cache's lease and fill, and the change feed (the read API).
Each multi-step operation is one Lua script, so it is atomic on the server.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import redis
import redis.asyncio as aioredis

from projections.notify import POSITIONS_CHANNEL, changes_channel

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class RedisLocks:
    """The Locks port: `SET key token NX PX ttl`, released only by the holder (compare-and-delete)."""

    def __init__(self, client: redis.Redis, prefix: str = "bsdflow:lock:") -> None:
        self.client = client
        self.prefix = prefix
        self._release = client.register_script(_RELEASE)

    def acquire(self, key: str, ttl_seconds: float) -> str | None:
        token = secrets.token_hex(16)
        taken = self.client.set(self.prefix + key, token, nx=True, px=int(ttl_seconds * 1000))
        return token if taken else None

    def release(self, key: str, token: str) -> None:
        self._release(keys=[self.prefix + key], args=[token])


# Per-tenant token buckets, shared by every delivery worker. The refill, the take and the
# write happen in one script, so concurrent workers cannot both spend the last token. Time is
# Redis's own clock (TIME), so workers with skewed clocks agree.
# KEYS[1] bucket; ARGV[1] tokens per second, ARGV[2] burst, ARGV[3] tokens wanted (at most
# the burst). Returns the wait in seconds as a string (Lua numbers come back to Redis
# truncated to integers).
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local wait = 0
if tokens >= want then
  tokens = tokens - want
else
  wait = (want - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


def rate_prefix(events_topic: str) -> str:
    """The buckets' keys, per installation (its events topic): installations sharing a Redis
    share no bucket."""
    return f"bsdflow:rate:{events_topic}:"


def _bucket_args(rate_per_second: float, burst: int, tokens: int) -> list[str | int]:
    if rate_per_second <= 0 or burst < 1:
        raise ValueError("rate_per_second must be > 0 and burst >= 1")
    if not 1 <= tokens <= burst:
        raise ValueError("tokens must be from 1 to burst (more could never be taken)")
    return [repr(float(rate_per_second)), burst, tokens]


def _seconds(wait: bytes | str) -> float:
    return float(wait.decode() if isinstance(wait, bytes) else wait)


class RedisTokenBucket:
    """The RateLimiter port. A bucket left alone refills to `burst`, then expires from Redis."""

    def __init__(self, client: redis.Redis, prefix: str = "bsdflow:rate:") -> None:
        self.client = client
        self.prefix = prefix
        self._take = client.register_script(_TAKE)

    def take(self, key: str, rate_per_second: float, burst: int, tokens: int = 1) -> float:
        """0 if `tokens` were taken now, else the seconds until they will be (none taken)."""
        args = _bucket_args(rate_per_second, burst, tokens)
        return _seconds(self._take(keys=[self.prefix + key], args=args))


class AsyncRedisTokenBucket:
    """The same buckets (script and keys) for an asyncio client: the read API's `Budget`."""

    def __init__(self, client: aioredis.Redis, prefix: str = "bsdflow:rate:") -> None:
        self.prefix = prefix
        self._take = client.register_script(_TAKE)

    async def take(self, key: str, rate_per_second: float, burst: int, tokens: int) -> float:
        args = _bucket_args(rate_per_second, burst, tokens)
        return _seconds(await self._take(keys=[self.prefix + key], args=args))


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

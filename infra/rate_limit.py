"""Per-tenant token buckets on Redis, shared by every delivery worker.

The refill, the take and the write happen in one Lua script, so concurrent workers cannot both
spend the last token. Time is Redis's own clock (TIME), so workers with skewed clocks agree.
"""

from __future__ import annotations

import redis

# KEYS[1] bucket; ARGV[1] tokens per second, ARGV[2] burst. Returns the wait in seconds as a
# string (Lua numbers come back to Redis truncated to integers).
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
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
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisTokenBucket:
    """The RateLimiter port. A bucket left alone refills to `burst`, then expires from Redis."""

    def __init__(self, client: redis.Redis, prefix: str = "bsdflow:rate:") -> None:
        self.client = client
        self.prefix = prefix
        self._take = client.register_script(_TAKE)

    def take(self, key: str, rate_per_second: float, burst: int) -> float:
        """0 if a token was taken now, else the seconds until one will be (nothing is taken)."""
        if rate_per_second <= 0 or burst < 1:
            raise ValueError("rate_per_second must be > 0 and burst >= 1")
        wait = self._take(keys=[self.prefix + key], args=[repr(float(rate_per_second)), burst])
        return float(wait.decode() if isinstance(wait, bytes) else wait)

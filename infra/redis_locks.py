"""Locks on Redis: `SET key token NX PX ttl`, released only by the holder (compare-and-delete)."""

from __future__ import annotations

import secrets

import redis

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class RedisLocks:
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

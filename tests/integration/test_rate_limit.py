"""The Redis token bucket against the embedded Redis."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from commands.ports import RateLimiter
from infra.embedded import ServerUrls
from infra.redis_adapters import RedisTokenBucket


@pytest.fixture
def bucket(stack: ServerUrls) -> RedisTokenBucket:
    limiter = RedisTokenBucket(
        redis.Redis.from_url(stack.redis_url), prefix=f"test:{uuid.uuid4()}:"
    )
    _: RateLimiter = limiter  # mypy checks the port is implemented
    return limiter


def test_burst_is_allowed_then_callers_wait(bucket: RedisTokenBucket) -> None:
    taken = [bucket.take("tenant-a", rate_per_second=1, burst=3) for _ in range(3)]
    assert taken == [0, 0, 0]
    wait = bucket.take("tenant-a", rate_per_second=1, burst=3)
    assert 0.9 < wait <= 1.0


def test_tokens_refill_with_time(bucket: RedisTokenBucket) -> None:
    assert bucket.take("tenant-a", rate_per_second=20, burst=1) == 0
    wait = bucket.take("tenant-a", rate_per_second=20, burst=1)
    assert 0 < wait <= 0.05
    time.sleep(wait + 0.01)  # the refill is what is under test: time has to pass
    assert bucket.take("tenant-a", rate_per_second=20, burst=1) == 0


def test_keys_are_independent(bucket: RedisTokenBucket) -> None:
    assert bucket.take("tenant-a", rate_per_second=0.5, burst=1) == 0
    assert bucket.take("tenant-a", rate_per_second=0.5, burst=1) > 0
    assert bucket.take("tenant-b", rate_per_second=0.5, burst=1) == 0


def test_idle_buckets_expire_and_arguments_are_checked(
    bucket: RedisTokenBucket, stack: ServerUrls
) -> None:
    bucket.take("tenant-a", rate_per_second=10, burst=5)
    ttl_ms = redis.Redis.from_url(stack.redis_url).pttl(bucket.prefix + "tenant-a")
    assert 0 < ttl_ms <= 1500
    with pytest.raises(ValueError, match="rate_per_second"):
        bucket.take("tenant-a", rate_per_second=0, burst=1)
    with pytest.raises(ValueError, match="burst"):
        bucket.take("tenant-a", rate_per_second=1, burst=0)


async def test_a_tenant_over_its_command_rate_gets_429_and_another_tenant_does_not(api):
    platform = api.mint("platform", "platform")
    await api.command(
        "create-tenant",
        token=platform,
        slug="slow",
        name="Slow",
        settings={"commands_per_second": 2},
    )
    slow = api.mint("slow", "admin")
    answers = [await api.post("create-group", {"name": f"g{i}"}, token=slow) for i in range(10)]
    statuses = [a.status for a in answers]
    assert statuses[:2] == [200, 200]  # a burst of one second's worth
    refused = [a for a in answers if a.status == 429]
    assert refused, statuses
    assert refused[0].body["title"] == "Too many requests"
    assert "commands_per_second" in refused[0].body["detail"]
    assert int(refused[0].headers["retry-after"]) >= 1
    # another tenant is not slowed by this one
    assert (await api.post("create-group", {"name": "fine"})).status == 200


async def test_a_flooding_tenant_is_refused_before_its_commands_are_read(api):
    """While the limiter's refusal holds, the tenant's commands are refused before routing:
    the same 429 for any command and any body, and a request without a valid token for the
    tenant is still answered as such."""
    platform = api.mint("platform", "platform")
    await api.command(
        "create-tenant",
        token=platform,
        slug="flood",
        name="Flood",
        settings={"commands_per_second": 1},
    )
    flood = api.mint("flood", "admin")
    statuses = [
        (await api.post("create-group", {"name": f"g{i}"}, token=flood)).status for i in range(3)
    ]
    assert statuses[0] == 200
    assert 429 in statuses, statuses
    for name, body in (("create-group", {"name": "x"}), ("no-such-command", b"not json")):
        refused = await api.post(name, body, token=flood)
        assert refused.status == 429, (name, refused.body)
        assert refused.body["instance"] == f"/v1/commands/{name}"
        assert int(refused.headers["retry-after"]) >= 1
    forged = flood[:-4] + ("AAAA" if not flood.endswith("AAAA") else "BBBB")
    assert (await api.post("create-group", {"name": "x"}, token=forged)).status == 401

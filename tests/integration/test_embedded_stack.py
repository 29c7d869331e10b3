"""The embedded stack stops its servers even while clients are still connected."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from infra.embedded import EmbeddedStack


def test_stop_shuts_redis_down_with_a_client_still_connected(tmp_path: Path) -> None:
    stack = EmbeddedStack(tmp_path)
    urls = stack.start()
    lingering = redis.Redis.from_url(urls.redis_url, socket_timeout=2)
    assert lingering.ping()

    stack.stop()

    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(urls.redis_url, socket_connect_timeout=2).ping()

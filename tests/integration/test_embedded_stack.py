"""The embedded stack stops its servers even while clients are still connected, and its broker
is never another installation's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import redis

from infra.embedded import EmbeddedStack, free_port, listens_on


def test_stop_shuts_redis_down_with_a_client_still_connected(tmp_path: Path) -> None:
    stack = EmbeddedStack(tmp_path)
    urls = stack.start()
    lingering = redis.Redis.from_url(urls.redis_url, socket_timeout=2)
    assert lingering.ping()

    stack.stop()

    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(urls.redis_url, socket_connect_timeout=2).ping()


def test_a_broker_port_someone_else_holds_is_not_taken_for_ours(tmp_path: Path) -> None:
    """Two installations starting at once may both find the same port free: the one whose
    broker lost the race must not talk to the other's broker, which answers on that port."""
    port = free_port()
    other = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "-b", "127.0.0.1"])
    try:
        assert listens_on(other, port)
        loser = subprocess.Popen(
            [sys.executable, "-c", f"import socket; socket.socket().bind(('127.0.0.1', {port}))"],
            stderr=subprocess.DEVNULL,
        )
        assert listens_on(loser, port) is False  # it exited: the port answers, but not for it
        # A stack asked for that port refuses to start rather than share the other's.
        stack = EmbeddedStack(tmp_path, kafka_port=port)
        with pytest.raises(RuntimeError, match="could not listen"):
            stack.start()
        assert stack._postgres is None  # and what it had started is stopped again
    finally:
        other.terminate()
        other.wait(10)

"""Request-reply over the embedded Kafka: infra/rpc.py's client and server end to end.

One server (a consumer group join takes ~3 s) answers every test from a registry of handlers on
topics named for this module run; each test uses its own payloads and its own client.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from infra.embedded import ServerUrls
from infra.kafka import ensure_topics, partition_count, producer_config
from infra.rpc import RpcError, RpcTimeout
from infra.rpc_client import RpcClient
from infra.rpc_server import RpcServer


@dataclass
class Topics:
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:10])

    def __getattr__(self, name: str) -> str:
        return f"test.rpc.{self.run}.{name}"


@dataclass
class Service:
    server: RpcServer
    topics: Topics
    seen: list[dict[str, Any]]


@contextmanager
def running(server: RpcServer) -> Iterator[RpcServer]:
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            server.run(stop)
        except BaseException as exc:
            errors.append(exc)
            raise

    thread = threading.Thread(target=target, name="rpc-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(15)
    assert not errors
    assert not thread.is_alive()


@pytest.fixture(scope="module")
def bootstrap(stack: ServerUrls) -> str:
    return stack.kafka_bootstrap_servers


@pytest.fixture(scope="module")
def service(bootstrap: str) -> Iterator[Service]:
    topics = Topics()
    seen: list[dict[str, Any]] = []

    def echo(request: dict[str, Any]) -> dict[str, Any]:
        seen.append(request)
        return {"echo": request}

    def shout(request: dict[str, Any]) -> dict[str, Any]:
        return {"text": str(request["text"]).upper()}

    def fail(request: dict[str, Any]) -> dict[str, Any]:
        raise ValueError(f"cannot handle {request['n']}")

    def slow(request: dict[str, Any]) -> dict[str, Any]:
        time.sleep(float(request["seconds"]))
        return {"slept": request["seconds"]}

    handlers = {topics.echo: echo, topics.shout: shout, topics.fail: fail, topics.slow: slow}
    server = RpcServer(bootstrap, f"test.rpc.{topics.run}", handlers)
    with running(server):
        assert server.ready.wait(30), "the server never joined its group"
        yield Service(server, topics, seen)


@pytest.fixture
def client(bootstrap: str) -> Iterator[RpcClient]:
    with RpcClient(bootstrap, reply_topic_prefix="test.rpc.replies") as started:
        yield started


async def test_round_trip_with_two_handlers(service: Service, client: RpcClient) -> None:
    topics = service.topics
    assert await client.request(topics.echo, {"n": 1, "tags": ["a"]}) == {
        "echo": {"n": 1, "tags": ["a"]}
    }
    assert await client.request(topics.shout, {"text": "hello"}) == {"text": "HELLO"}
    assert partition_count(client.bootstrap, topics.echo) == 1
    assert client.pending == 0


async def test_concurrent_requests_get_their_own_replies(
    service: Service, client: RpcClient
) -> None:
    requests = [{"i": i, "nonce": uuid.uuid4().hex} for i in range(20)]
    started = time.monotonic()
    replies = await asyncio.gather(*(client.request(service.topics.echo, r) for r in requests))
    elapsed = time.monotonic() - started
    assert replies == [{"echo": r} for r in requests]
    assert client.pending == 0
    assert client.dropped == 0
    assert elapsed < 5, elapsed


async def test_a_handler_that_raises_gives_an_error_reply(
    service: Service, client: RpcClient
) -> None:
    reply = await client.request(service.topics.fail, {"n": 7})
    assert reply == {"error": "ValueError: cannot handle 7"}
    # The server carries on with the next request.
    assert await client.request(service.topics.echo, {"after": "error"}) == {
        "echo": {"after": "error"}
    }


async def test_no_server_times_out_and_the_client_keeps_working(
    service: Service, client: RpcClient
) -> None:
    nobody = f"{service.topics.nobody}.{uuid.uuid4().hex[:6]}"
    await asyncio.to_thread(ensure_topics, client.bootstrap, nobody)  # time only the wait
    started = time.monotonic()
    with pytest.raises(RpcTimeout) as raised:
        await client.request(nobody, {"q": 1}, timeout=0.5)
    elapsed = time.monotonic() - started
    assert (raised.value.topic, raised.value.timeout) == (nobody, 0.5)
    assert 0.5 <= elapsed < 1.5, elapsed
    assert client.pending == 0  # the timed-out waiter is forgotten
    assert await client.request(service.topics.echo, {"still": "works"}) == {
        "echo": {"still": "works"}
    }


async def test_a_request_sent_before_the_server_joins_is_answered(
    bootstrap: str, client: RpcClient
) -> None:
    topic = f"test.rpc.early.{uuid.uuid4().hex}"
    pending = asyncio.ensure_future(client.request(topic, {"early": True}, timeout=30))
    server = RpcServer(bootstrap, f"{topic}.group", {topic: lambda r: {"got": r}})
    with running(server):
        assert await pending == {"got": {"early": True}}


async def test_two_clients_each_get_only_their_own_replies(
    service: Service, bootstrap: str
) -> None:
    with RpcClient(bootstrap) as first, RpcClient(bootstrap) as second:
        assert first.reply_topic != second.reply_topic
        calls = [(c, {"client": name, "i": i}) for i in range(10) for name, c in
                 (("first", first), ("second", second))]  # fmt: skip
        replies = await asyncio.gather(*(c.request(service.topics.echo, r) for c, r in calls))
        assert replies == [{"echo": r} for _, r in calls]
        assert (first.dropped, second.dropped) == (0, 0)  # nothing foreign on either topic
    assert partition_count(bootstrap, first.reply_topic) == 0  # close() deleted them
    assert partition_count(bootstrap, second.reply_topic) == 0


async def test_a_late_reply_is_dropped(service: Service, client: RpcClient) -> None:
    await client.request(service.topics.slow, {"seconds": 0})  # warm: the next one is on time
    with pytest.raises(RpcTimeout):
        await client.request(service.topics.slow, {"seconds": 0.8}, timeout=0.3)
    # Answered in order on one partition: the late reply comes first and is dropped (the
    # client fetches only while a request waits, so it is read with the next one).
    assert await client.request(service.topics.echo, {"next": 1}) == {"echo": {"next": 1}}
    assert client.dropped == 1
    assert client.pending == 0


async def test_a_request_past_its_deadline_is_skipped(service: Service, client: RpcClient) -> None:
    marker = uuid.uuid4().hex
    with pytest.raises(RpcTimeout):
        await client.request(service.topics.echo, {"expired": marker}, timeout=0)
    # One partition, answered in order: once this reply is here, the expired one was seen.
    assert await client.request(service.topics.echo, {"fresh": marker}) == {
        "echo": {"fresh": marker}
    }
    assert {"expired": marker} not in service.seen
    assert {"fresh": marker} in service.seen


async def test_a_reply_topic_that_is_gone_does_not_stop_the_server(
    service: Service, bootstrap: str, client: RpcClient
) -> None:
    leaving = RpcClient(bootstrap).start()
    slow = asyncio.ensure_future(leaving.request(service.topics.slow, {"seconds": 0.8}))
    deadline = time.monotonic() + 10
    while leaving.pending == 0:  # sent (the first request to a topic checks it exists first)
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    await asyncio.to_thread(leaving.close)  # deletes its reply topic while the server sleeps
    with pytest.raises(RpcError, match="closed"):
        await slow
    assert partition_count(bootstrap, leaving.reply_topic) == 0
    assert await client.request(service.topics.echo, {"n": 1}, timeout=15) == {"echo": {"n": 1}}

    # Again, now that the server's producer knows the topic is missing (produce() raises).
    producer = Producer(producer_config(bootstrap))
    headers: list[tuple[str, str | bytes | None]] = [
        ("correlation_id", b"x"),
        ("reply_to", leaving.reply_topic.encode()),
    ]
    producer.produce(service.topics.echo, orjson.dumps({"orphan": 1}), headers=headers)
    assert producer.flush(10) == 0
    assert await client.request(service.topics.echo, {"n": 2}, timeout=15) == {"echo": {"n": 2}}
    assert {"orphan": 1} in service.seen


async def test_usable_from_threads_and_other_event_loops(
    service: Service, client: RpcClient
) -> None:
    echo = service.topics.echo

    def in_another_loop(i: int) -> dict[str, Any]:
        return asyncio.run(client.request(echo, {"i": i}))

    replies = await asyncio.gather(
        asyncio.to_thread(client.request_sync, echo, {"i": 0}),
        asyncio.to_thread(in_another_loop, 1),
        asyncio.to_thread(in_another_loop, 2),
        client.request(echo, {"i": 3}),
    )
    assert list(replies) == [{"echo": {"i": i}} for i in range(4)]
    with pytest.raises(RpcTimeout):
        await asyncio.to_thread(client.request_sync, f"{echo}.unserved", {"i": 4}, 0.3)

"""Request-reply over Kafka: a client that awaits replies by correlation id, and a server that
answers from a registry of handlers (topic → function).

Each client owns a fresh one-partition reply topic and reads it by assignment from the
beginning: no group join, so it is ready at once, and no reliance on `latest` offsets, which the
embedded broker (Tansu) answers wrongly. Everything on that topic is a reply to this client;
a reply nobody waits for any more (timed out, or sent twice after a redelivery) is dropped.

The server is an ordinary consumer group over the handler topics. It answers a batch, flushes
the replies, and only then commits: a server that dies mid-batch leaves the requests to the next
member (at-least-once, so handlers should be idempotent). Requests past their deadline are
skipped, since their caller has given up.

This module holds what both sides share (header names, errors, fetching a batch); the two
sides are `infra.rpc_client.RpcClient` and `infra.rpc_server.RpcServer`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from confluent_kafka import Consumer, Message

log = structlog.get_logger("bsdflow.rpc")

Handler = Callable[[dict[str, Any]], dict[str, Any]]
Reply = dict[str, Any]

CORRELATION_ID = "correlation_id"
REPLY_TO = "reply_to"
DEADLINE = "deadline"  # epoch milliseconds after which the caller no longer waits

# No idempotence: a new idempotent producer waits ≈0.5-1 s for its producer id (measured on
# Tansu), which every client's first request would pay. A duplicate after a retry is harmless:
# handling is at-least-once anyway, and a second reply finds no waiter.
REQUEST_PRODUCER = {"enable.idempotence": False}


class RpcError(Exception):
    """A request could not be sent, its reply was malformed, or the client was closed."""


class RpcTimeout(TimeoutError):
    def __init__(self, topic: str, timeout: float) -> None:
        super().__init__(f"no reply on {topic} within {timeout} s")
        self.topic = topic
        self.timeout = timeout


def next_batch(consumer: Consumer, size: int, wait: float = 0.1) -> list[Message]:
    """Up to `size` messages, waiting only for the first one.

    `consume(size, timeout)` waits out its whole timeout unless `size` messages arrive, which
    would add up to `wait` seconds to every hop; this returns as soon as one message is there,
    with whatever else has already been fetched.
    """
    first = consumer.poll(wait)
    if first is None:
        return []
    messages = [first, *(consumer.consume(size - 1, timeout=0) if size > 1 else [])]
    usable = []
    for message in messages:
        if message.error() is not None:
            log.warning("consume error", error=str(message.error()))
        else:
            usable.append(message)
    return usable

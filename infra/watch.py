"""`bsdflow watch`: a minimal graphql-transport-ws client printing subscription data as JSON lines."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
from websockets.sync.client import connect

PROTOCOL = "graphql-transport-ws"


class SubscriptionError(Exception):
    pass


def subscribe(
    url: str,
    token: str,
    query: str,
    timeout: float = 30.0,
    wait: float | None = None,
    on_subscribed: Callable[[], None] = lambda: None,
) -> Iterator[dict[str, Any]]:
    """Yield each `next` payload's data until the server completes the subscription.

    `wait` bounds the time between messages (TimeoutError when exceeded); None waits forever.
    """
    with connect(url, subprotocols=[PROTOCOL], open_timeout=timeout) as ws:  # type: ignore[list-item]
        ws.send(
            orjson.dumps(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
            ).decode()
        )
        ack = orjson.loads(ws.recv(timeout))
        if ack.get("type") != "connection_ack":
            raise SubscriptionError(f"connection refused: {ack}")
        ws.send(
            orjson.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}).decode()
        )
        on_subscribed()
        while True:
            message = orjson.loads(ws.recv(wait))
            kind = message.get("type")
            if kind == "ping":
                ws.send(orjson.dumps({"type": "pong"}).decode())
            elif kind == "next":
                payload = message["payload"]
                if payload.get("errors"):
                    raise SubscriptionError(orjson.dumps(payload["errors"]).decode())
                yield payload["data"]
            elif kind == "error":
                raise SubscriptionError(orjson.dumps(message.get("payload")).decode())
            elif kind == "complete":
                return

"""`bsdflow watch`: a minimal graphql-transport-ws client printing subscription data as JSON lines.

Every way a subscription can fail (no server, wrong URL, refused token, a query the server
rejects) ends in one `SubscriptionError` whose message is a sentence for the terminal: the CLI
prints it on one line instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.sync.client import ClientConnection, connect

PROTOCOL = "graphql-transport-ws"
CLOSE_REASONS = {
    4400: "the server refused a message",
    4401: "the server wants connection_init first",
    4403: "the server refused the token (close 4403 Forbidden): mint one with `bsdflow token` "
    "on the server's machine, or pass --token",
    4408: "the server timed out waiting for connection_init",
    4429: "the server saw too many connection_init messages",
    4500: "the server failed",
}


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
    with _open(url, timeout) as ws:
        try:
            yield from _session(ws, token, query, timeout, wait, on_subscribed)
        except ConnectionClosed as exc:
            raise SubscriptionError(_closed(exc)) from None


def _open(url: str, timeout: float) -> ClientConnection:
    try:
        return connect(url, subprotocols=[PROTOCOL], open_timeout=timeout)  # type: ignore[list-item]
    except InvalidURI:
        raise SubscriptionError(f"{url!r} is not a websocket URL") from None
    except InvalidStatus as exc:
        status = exc.response.status_code
        raise SubscriptionError(
            f"{url} answered HTTP {status}, not a websocket: is it bsdflow's /graphql?"
        ) from None
    except InvalidHandshake as exc:
        raise SubscriptionError(f"the websocket handshake with {url} failed: {exc}") from None
    except TimeoutError:
        raise SubscriptionError(f"{url} did not answer within {timeout:g} s") from None
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise SubscriptionError(
            f"cannot connect to {url} ({reason}): is `bsdflow up` running?"
        ) from None


def _session(
    ws: ClientConnection,
    token: str,
    query: str,
    timeout: float,
    wait: float | None,
    on_subscribed: Callable[[], None],
) -> Iterator[dict[str, Any]]:
    init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
    ws.send(orjson.dumps(init).decode())
    try:
        ack = orjson.loads(ws.recv(timeout))
    except TimeoutError:
        raise SubscriptionError(f"no connection_ack within {timeout:g} s") from None
    if ack.get("type") != "connection_ack":
        raise SubscriptionError(f"the server did not accept the connection: {ack}")
    ws.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}).decode())
    on_subscribed()
    while True:
        message = orjson.loads(ws.recv(wait))
        kind = message.get("type")
        if kind == "ping":
            ws.send(orjson.dumps({"type": "pong"}).decode())
        elif kind == "next":
            payload = message["payload"]
            if payload.get("errors"):
                raise SubscriptionError(f"the subscription failed: {_messages(payload['errors'])}")
            yield payload["data"]
        elif kind == "error":
            raise SubscriptionError(
                f"the server refused the subscription: {_messages(message.get('payload'))}"
            )
        elif kind == "complete":
            return


def _messages(errors: object) -> str:
    """GraphQL errors as one line: their messages, joined."""
    if isinstance(errors, list):
        found = [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors]
        return "; ".join(found) or "no detail"
    return orjson.dumps(errors).decode()


def _closed(exc: ConnectionClosed) -> str:
    close = exc.rcvd
    if close is None:
        return "the connection dropped without a close frame"
    known = CLOSE_REASONS.get(close.code)
    if known:
        return known if close.code == 4403 else f"{known} (close {close.code}: {close.reason})"
    return f"the server closed the connection (code {close.code}{': ' + close.reason if close.reason else ''})"

"""Subscriptions held open for the whole run, over graphql-transport-ws (as `infra/watch.py`
speaks it, but asyncio-native: hundreds share the load generator's event loop).

Each connection subscribes to every configured stream with a minimal selection (`position`)
and reports each message's position and arrival time; freshness is measured from those.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from loadtest.scenario import Stream

PROTOCOL = "graphql-transport-ws"
SELECTIONS: dict[str, str] = {
    "entityChanged": "subscription { entityChanged { position } }",
    "occurrenceRecorded": "subscription { occurrenceRecorded { position } }",
    "processChanged": "subscription { processChanged { position } }",
}
OnMessage = Callable[[int, str, int, float], None]
"""(subscriber, stream, position, arrival time)."""


@dataclass
class Subscriber:
    """One websocket connection carrying one subscription per stream."""

    number: int
    url: str
    token: str
    streams: list[Stream]
    on_message: OnMessage
    open_timeout: float = 10.0
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False
    messages: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    async def run(self) -> None:
        """Until cancelled or the server ends the connection; failures are counted, not raised."""
        loop = asyncio.get_running_loop()
        try:
            async with connect(
                self.url,
                subprotocols=[Subprotocol(PROTOCOL)],
                open_timeout=self.open_timeout,
                max_queue=None,  # count what arrives; back-pressure is the server's business
                ping_interval=None,  # the protocol has its own ping
            ) as ws:
                await ws.send(
                    _frame(
                        {
                            "type": "connection_init",
                            "payload": {"Authorization": f"Bearer {self.token}"},
                        }
                    )
                )
                ack = orjson.loads(await asyncio.wait_for(ws.recv(), self.open_timeout))
                if ack.get("type") != "connection_ack":
                    self.errors["refused"] += 1
                    return
                ids = {}
                for n, stream in enumerate(self.streams, start=1):
                    ids[str(n)] = stream
                    await ws.send(
                        _frame(
                            {
                                "id": str(n),
                                "type": "subscribe",
                                "payload": {"query": SELECTIONS[stream]},
                            }
                        )
                    )
                self.connected.set()
                async for raw in ws:
                    at = loop.time()
                    message = orjson.loads(raw)
                    kind = message.get("type")
                    if kind == "next":
                        self._next(message, ids, at)
                    elif kind == "ping":
                        await ws.send(_frame({"type": "pong"}))
                    elif kind == "error":
                        self.errors[_error_kind(message.get("payload"))] += 1
                    elif kind == "complete":
                        self.errors["completed_by_server"] += 1
        except asyncio.CancelledError:
            raise
        except (TimeoutError, OSError, InvalidStatus) as exc:
            self.errors[f"connection ({type(exc).__name__})"] += 1
        except ConnectionClosed:
            self.errors["closed_by_server"] += 1
        finally:
            self.closed = True

    def _next(self, message: dict[str, object], ids: dict[str, Stream], at: float) -> None:
        payload = message.get("payload")
        stream = ids.get(str(message.get("id")))
        if not isinstance(payload, dict) or stream is None:
            self.errors["protocol"] += 1
            return
        if payload.get("errors"):
            self.errors[_error_kind(payload["errors"])] += 1
            return
        data = payload.get("data") or {}
        change = data.get(stream) if isinstance(data, dict) else None
        if isinstance(change, dict) and isinstance(change.get("position"), int):
            self.messages += 1
            self.on_message(self.number, stream, change["position"], at)


def _frame(message: dict[str, object]) -> str:
    return orjson.dumps(message).decode()


def _error_kind(errors: object) -> str:
    """`slow_consumer` when the server dropped us for falling behind, else `graphql`."""
    text = orjson.dumps(errors).decode().lower()
    return "slow_consumer" if "slow_consumer" in text or "waiting for this" in text else "graphql"


class SubscriberPool:
    """All held-open subscriptions of a run."""

    def __init__(
        self, url: str, token: str, connections: int, streams: list[Stream], on_message: OnMessage
    ) -> None:
        self.subscribers = [
            Subscriber(n, url, token, streams, on_message) for n in range(connections)
        ]
        self._tasks: list[asyncio.Task[None]] = []
        self.open_at_stop = 0

    async def start(self, batch: int = 50) -> None:
        """Opened in batches so hundreds of handshakes do not all time out together."""
        for first in range(0, len(self.subscribers), batch):
            group = self.subscribers[first : first + batch]
            self._tasks += [asyncio.create_task(s.run()) for s in group]
            waits = [asyncio.create_task(s.connected.wait()) for s in group]
            await asyncio.wait(waits, timeout=15)
            for pending in waits:
                pending.cancel()

    async def stop(self) -> None:
        self.open_at_stop = len(self.live)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def live(self) -> list[Subscriber]:
        return [s for s in self.subscribers if s.connected.is_set() and not s.closed]

    def describe(self) -> dict[str, object]:
        errors: Counter[str] = Counter()
        for subscriber in self.subscribers:
            errors.update(subscriber.errors)
        return {
            "connections": len(self.subscribers),
            "connected": sum(s.connected.is_set() for s in self.subscribers),
            "open_at_end": self.open_at_stop,
            "messages": sum(s.messages for s in self.subscribers),
            "errors": {kind: n for kind, n in errors.most_common() if n},
        }

"""The read API's graphql-transport-ws connections: shared subscriptions (`broadcast`), closed
when their token expires, and coded errors where strawberry sends none.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)

from read_api.broadcast import SharedSubscriptions
from read_api.errors import RateLimited, as_graphql_error

EXPIRED = 4403
"""graphql-transport-ws's "Forbidden": the token no longer allows reading."""


class ReadSockets(SharedSubscriptions):
    _expiry: asyncio.TimerHandle | None = None
    _closing: asyncio.Future[None] | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        """Past its token's expiry a socket may not keep receiving: it is closed then, with
        4403 (the client reconnects with a fresh token)."""
        await super().handle_connection_init(message)
        viewer = self.context.viewer
        if self.connection_acknowledged and viewer is not None and viewer.expires_at is not None:
            delay = max(0.0, viewer.expires_at - time.time())
            self._expiry = asyncio.get_running_loop().call_later(delay, self._expire)

    def _expire(self) -> None:
        self._closing = asyncio.ensure_future(self._close_expired())

    async def _close_expired(self) -> None:
        with contextlib.suppress(Exception):  # the client may have left meanwhile
            await self.websocket.close(EXPIRED, "Token expired")

    async def shutdown(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        await super().shutdown()

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        """strawberry's answer to one operation too many has no code: this one has."""
        limit = self.max_subscriptions_per_connection
        if (
            self.connection_acknowledged
            and limit is not None
            and message["id"] not in self.operations
            and len(self.operations) >= limit
        ):
            refused = RateLimited(f"at most {limit} operations at once on one connection")
            error = as_graphql_error(refused).formatted
            await self.send_message({"id": message["id"], "type": "error", "payload": [error]})
            return
        await super().handle_subscribe(message)

"""The read API's graphql-transport-ws connections: shared subscriptions (`broadcast`), closed
when their token expires, and coded errors where strawberry sends none.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any

from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)

from read_api.broadcast import SharedSubscriptions
from read_api.errors import PublicError, RateLimited, as_graphql_error

EXPIRED = 4403
"""graphql-transport-ws's "Forbidden": the token no longer allows reading (as it did)."""


def connection_authorization(params: Mapping[str, Any]) -> str | None:
    """`{"Authorization": "Bearer …"}` or `{"token": "…"}` from `connection_init`."""
    for name in ("Authorization", "authorization"):
        if isinstance(params.get(name), str):
            return str(params[name])
    token = params.get("token")
    return f"Bearer {token}" if isinstance(token, str) else None


class ReadSockets(SharedSubscriptions):
    _expiry: asyncio.TimerHandle | None = None
    _closing: asyncio.Future[None] | None = None
    _unwatch: Callable[[], None] | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        """A socket may not keep receiving past its token's expiry, nor under grants its
        reader no longer has: it is closed then, with 4403 (the client reconnects, with a
        fresh token, and reads under its new grants)."""
        await super().handle_connection_init(message)
        viewer = self.context.viewer
        if not self.connection_acknowledged or viewer is None:
            return
        if viewer.expires_at is not None:
            delay = max(0.0, viewer.expires_at - time.time())
            self._expiry = asyncio.get_running_loop().call_later(delay, self._expire)
        params = message.get("payload")
        authorization = connection_authorization(params if isinstance(params, dict) else {})
        self._unwatch = self.context.api.watch_access(
            viewer.tenant_id, lambda: self._recheck(authorization, viewer.grants.fingerprint)
        )

    def _recheck(self, authorization: str | None, granted: str) -> None:
        try:
            now = self.context.api.authenticate(authorization).grants.fingerprint
        except PublicError:
            now = ""
        if now != granted:
            self._close("Access changed")

    def _expire(self) -> None:
        self._close("Token expired")

    def _close(self, reason: str) -> None:
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close_with(reason))

    async def _close_with(self, reason: str) -> None:
        with contextlib.suppress(Exception):  # the client may have left meanwhile
            await self.websocket.close(EXPIRED, reason)

    async def shutdown(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        if self._unwatch is not None:
            self._unwatch()
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

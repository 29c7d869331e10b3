"""Identical subscriptions share one execution: each change is loaded, executed and encoded once.

Subscriptions with the same document, variables and operation name in the same tenant, from
readers who see the same (`Viewer.sight`: the same grants, and the same reader under a row
rule), receive the same messages. The first of them starts a single
strawberry stream, which is one fan-out subscriber; each result of that stream is encoded to
JSON once and handed as is to every member's bounded queue. Each member's own task writes the
frames to its socket, so a slow socket holds up nobody else; a member that falls
`subscriber_queue` frames behind is dropped with SLOW_CONSUMER, as an unshared subscription would be.
The stream stops when its last member leaves. Each member holds one of its tenant's open
subscriptions (`read_api.quotas`) while it runs; one over the tenant's limit is refused with an
`error` message on its subscribe. Queries and mutations sent over the socket, and
documents that do not parse or are too large, take strawberry's own path.

Per delivered change this leaves one GraphQL execution per distinct subscription instead of
one per socket (measured: executing and encoding per socket was most of the API's CPU with
thousands of subscribers).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable

import orjson
from graphql import (
    DocumentNode,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    OperationType,
    parse,
)
from graphql.utilities import get_operation_ast
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)

from read_api.broadcast_frames import Finish
from read_api.broadcast_streams import Member, broadcasts_of
from read_api.context import Context
from read_api.errors import DocumentTooLarge, RateLimited, as_graphql_error
from read_api.fanout import SlowConsumer
from read_api.limits import check_size
from read_api.ports import Viewer


@functools.lru_cache(maxsize=512)
def _document(query: str, max_tokens: int) -> DocumentNode | None:
    try:
        return parse(query, max_tokens=max_tokens)
    except GraphQLSyntaxError:
        return None


def is_subscription(query: str, operation_name: str | None, max_tokens: int) -> bool:
    document = _document(query, max_tokens)
    if document is None:
        return False
    found: OperationDefinitionNode | None = get_operation_ast(document, operation_name)
    return found is not None and found.operation is OperationType.SUBSCRIPTION


class SharedSubscriptions(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws where identical subscriptions share one stream (see above)."""

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        viewer, config = self.context.viewer, self.context.api.config
        try:
            check_size(operation.query, config.max_document_bytes)  # before any parsing
        except DocumentTooLarge as exc:
            error = as_graphql_error(exc).formatted
            await operation.send_operation_message(
                {"id": operation.id, "type": "error", "payload": [error]}
            )
            return
        if viewer is None or not is_subscription(
            operation.query, operation.operation_name, config.max_tokens
        ):
            await super().run_operation(operation)
            return
        quotas = self.context.api.quotas
        with contextlib.ExitStack() as held:
            try:
                limits = await quotas.of(viewer.tenant_id)
                held.enter_context(quotas.subscription(viewer.tenant_id, limits))
            except RateLimited as exc:
                error = as_graphql_error(exc).formatted
                await operation.send_operation_message(
                    {"id": operation.id, "type": "error", "payload": [error]}
                )
                return
            await self._share(operation, viewer)

    async def _share(self, operation: Operation[Context, None], viewer: Viewer) -> None:
        variables = orjson.dumps(operation.variables or {}, option=orjson.OPT_SORT_KEYS)
        # Readers who see differently (their grants, a row rule of their own) never share.
        key = (viewer.tenant_id, viewer.sight, operation.query, variables, operation.operation_name)
        limit = self.context.api.config.subscriber_queue
        member = Member(operation, limit)
        registry = broadcasts_of(self.schema)
        broadcast = registry.join(key, member, self.context)
        try:
            await self._relay(member)
        except (WebSocketDisconnected, WebSocketDisconnect):
            pass
        finally:
            registry.leave(broadcast, member)

    async def _relay(self, member: Member) -> None:
        operation = member.operation
        send = self._text_sender()
        while not member.dropped:
            item = await member.take()
            if member.dropped:
                break
            if isinstance(item, Finish):
                await self._finish(operation, item)
                return
            if operation.completed:
                return
            await send(item.text(operation.id))
        error = as_graphql_error(
            SlowConsumer(f"more than {member.limit} changes were waiting for this subscription")
        )
        await operation.send_operation_message(
            {
                "id": operation.id,
                "type": "next",
                "payload": {"data": None, "errors": [error.formatted]},
            }
        )
        await operation.send_operation_message({"id": operation.id, "type": "complete"})

    def _text_sender(self) -> Callable[[str], Awaitable[None]]:
        """The socket's own send: the frame text is ready, strawberry's JSON layer is skipped."""
        if isinstance(self.websocket, ASGIWebSocketAdapter):
            return self.websocket.ws.send_text
        raise TypeError(f"unexpected websocket adapter {type(self.websocket).__name__}")

    async def _finish(self, operation: Operation[Context, None], end: Finish) -> None:
        if end.close_reason is not None:
            self.operations.pop(operation.id, None)
            await self.websocket.close(code=4400, reason=end.close_reason)
        elif end.message is not None:
            await operation.send_operation_message({"id": operation.id, **end.message})  # type: ignore[arg-type]

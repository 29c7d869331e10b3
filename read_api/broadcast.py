"""Identical subscriptions share one execution: each change is loaded, executed and encoded once.

Subscriptions with the same document, variables and operation name in the same tenant receive
the same messages: what a subscription can read depends on its tenant only (row-level
security; the roles were checked at `connection_init`). The first of them starts a single
strawberry stream, which is one fan-out subscriber; each result of that stream is encoded to
JSON once and handed as is to every member's bounded queue. Each member's own task writes the
frames to its socket, so a slow socket holds up nobody else; a member that falls
`subscriber_queue` frames behind is dropped with SLOW_CONSUMER, as an unshared subscription would be.
The stream stops when its last member leaves. Queries and mutations sent over the socket, and
documents that do not parse or are too large, take strawberry's own path.

Per delivered change this leaves one GraphQL execution per distinct subscription instead of
one per socket (measured: executing and encoding per socket was most of the API's CPU with
thousands of subscribers).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID
from weakref import WeakKeyDictionary

import orjson
from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    OperationType,
    parse,
)
from graphql.utilities import get_operation_ast
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema import BaseSchema
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.utils.aio import aclosing

from read_api.context import Context
from read_api.errors import DocumentTooLarge, as_graphql_error
from read_api.fanout import SlowConsumer
from read_api.limits import check_size

log = logging.getLogger("bsdflow.read_api.broadcast")
Key = tuple[UUID, str, bytes, str | None]
"""(tenant, document, variables as canonical JSON, operation name)."""


@dataclass(frozen=True, slots=True)
class Finish:
    """The last thing a member sends: `message` (an error or `complete`), or a close."""

    message: dict[str, Any] | None = None
    close_reason: str | None = None


class Next:
    """One result, encoded once; the frame text is made once per operation id in use."""

    __slots__ = ("_texts", "payload")

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self._texts: dict[str, str] = {}

    def text(self, operation_id: str) -> str:
        text = self._texts.get(operation_id)
        if text is None:
            frame = b'{"id":%b,"type":"next","payload":%b}' % (
                orjson.dumps(operation_id),
                self.payload,
            )
            text = self._texts[operation_id] = frame.decode()
        return text


@dataclass(eq=False, slots=True)
class Member:
    """One subscribed operation: a bounded mailbox its own task empties onto the socket.

    A deque and one future rather than an `asyncio.Queue`: this runs once per socket per
    change, thousands of times for each change."""

    operation: Operation[Context, None]
    limit: int
    pending: deque[Next | Finish] = field(default_factory=deque)
    waiter: asyncio.Future[None] | None = None
    dropped: bool = False

    def put(self, item: Next | Finish) -> bool:
        if len(self.pending) >= self.limit:
            return False
        self.pending.append(item)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        return True

    async def take(self) -> Next | Finish:
        while not self.pending:
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return self.pending.popleft()


@dataclass(eq=False)
class Broadcast:
    key: Key
    members: set[Member] = field(default_factory=set)
    task: asyncio.Task[None] | None = None
    done: bool = False

    def deliver(self, item: Next) -> None:
        slow = [member for member in self.members if not member.put(item)]
        for member in slow:  # its mailbox is full: its task wakes up and sees `dropped`
            member.dropped = True
            self.members.discard(member)

    def finish(self, end: Finish) -> None:
        self.done = True
        for member in self.members:
            if not member.put(end):
                member.dropped = True
        self.members.clear()


class Broadcasts:
    """The shared streams of one schema (one API process)."""

    def __init__(self, schema: BaseSchema) -> None:
        self.schema = schema
        self._by_key: dict[Key, Broadcast] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def join(self, key: Key, member: Member, context: Context) -> Broadcast:
        broadcast = self._by_key.get(key)
        if broadcast is None or broadcast.done:
            broadcast = self._by_key[key] = Broadcast(key)
            broadcast.task = asyncio.create_task(
                self._stream(broadcast, member.operation, context), name="bsdflow-broadcast"
            )
        broadcast.members.add(member)
        return broadcast

    def leave(self, broadcast: Broadcast, member: Member) -> None:
        broadcast.members.discard(member)
        if not broadcast.members and not broadcast.done:
            broadcast.done = True
            self._forget(broadcast)
            if broadcast.task is not None:
                broadcast.task.cancel()

    def _forget(self, broadcast: Broadcast) -> None:
        if self._by_key.get(broadcast.key) is broadcast:
            del self._by_key[broadcast.key]

    async def _stream(
        self, broadcast: Broadcast, operation: Operation[Context, None], context: Context
    ) -> None:
        end = Finish({"type": "complete"})
        try:
            results = await self.schema.stream(
                operation.query,
                variable_values=operation.variables,
                context_value=context,
                operation_name=operation.operation_name,
            )
            first = True
            async with aclosing(results):
                async for result in results:
                    if first and isinstance(result, PreExecutionError):
                        end = refused(result)
                        return
                    first = False
                    if not isinstance(result, ExecutionResult):  # @defer/@stream frames
                        end = errors([GraphQLError("Incremental delivery is not supported")])
                        return
                    broadcast.deliver(encode(result))
        except Exception:
            log.exception("shared subscription failed")
        finally:
            self._forget(broadcast)
            if not broadcast.done:
                broadcast.finish(end)


def encode(result: ExecutionResult) -> Next:
    """The `next` payload as JSON, made once for every member."""
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [error.formatted for error in result.errors]
    if result.extensions:
        payload["extensions"] = result.extensions
    return Next(orjson.dumps(payload))


def errors(found: list[GraphQLError]) -> Finish:
    return Finish({"type": "error", "payload": [error.formatted for error in found]})


def refused(result: PreExecutionError) -> Finish:
    """As strawberry answers a subscription that cannot start: close (syntax) or `error`."""
    assert result.errors
    reason = BaseGraphQLTransportWSHandler._get_pre_execution_close_reason(result.errors[0])
    return Finish(close_reason=reason) if reason else errors(result.errors)


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


_REGISTRIES: WeakKeyDictionary[BaseSchema, Broadcasts] = WeakKeyDictionary()


def broadcasts_of(schema: BaseSchema) -> Broadcasts:
    found = _REGISTRIES.get(schema)
    if found is None:
        found = _REGISTRIES[schema] = Broadcasts(schema)
    return found


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
        variables = orjson.dumps(operation.variables or {}, option=orjson.OPT_SORT_KEYS)
        key = (viewer.tenant_id, operation.query, variables, operation.operation_name)
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

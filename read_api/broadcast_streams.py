"""The shared streams: one strawberry execution per key, handed to every member's mailbox."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from uuid import UUID
from weakref import WeakKeyDictionary

from graphql import GraphQLError
from strawberry.schema import BaseSchema
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import Operation
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.utils.aio import aclosing

from read_api.broadcast_frames import Finish, Next, encode, errors, refused
from read_api.context import Context

log = logging.getLogger("bsdflow.read_api.broadcast")
Key = tuple[UUID, bytes, str, bytes, str | None]
"""(tenant, what its readers see, document, variables as canonical JSON, operation name)."""


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


_REGISTRIES: WeakKeyDictionary[BaseSchema, Broadcasts] = WeakKeyDictionary()


def broadcasts_of(schema: BaseSchema) -> Broadcasts:
    found = _REGISTRIES.get(schema)
    if found is None:
        found = _REGISTRIES[schema] = Broadcasts(schema)
    return found

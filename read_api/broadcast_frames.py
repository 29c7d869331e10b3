"""What a shared stream hands its members: each result encoded once, then the last word."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from graphql import GraphQLError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.types.execution import ExecutionResult, PreExecutionError


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

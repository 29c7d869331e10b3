"""The GraphQL schema and its FastAPI router (`/graphql`: queries over HTTP, subscriptions over
graphql-transport-ws only).

Read-your-writes, two ways (both wait until every projection has applied the position, woken
by the workers' commit notifications, up to a timeout; `extensions.freshness` says whether it
timed out). However many a request asks for, it waits once, before execution, holding no
reader connection (`read_api.waits`):
- the `X-Min-Position: <position>` header, for the whole request;
- the `atLeast(position: N, timeoutMs: T) { ... }` field, which returns the query root, for
  clients that cannot set headers (or over a websocket).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import strawberry
from cross_web import HTTPException
from graphql import GraphQLError
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, Response
from starlette.websockets import WebSocket
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema.config import StrawberryConfig
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionContext
from strawberry.types.unset import UNSET, UnsetType
from strawberry.utils.logging import StrawberryLogger

from read_api.context import Context, ReadApi
from read_api.errors import (
    INTERNAL,
    BadRequest,
    Forbidden,
    NotFound,
    PublicError,
    Unauthenticated,
    as_graphql_error,
    code_of,
    settle,
)
from read_api.limits import extensions
from read_api.ports import Viewer
from read_api.prebuilt import PrebuiltExecutor
from read_api.response_cache import VIEWER
from read_api.sockets import ReadSockets, connection_authorization
from read_api.subscriptions import Subscription
from read_api.types import query_roots
from read_api.types.common import Info, field
from read_api.waits import REFUSED


@strawberry.type
class Query(*query_roots()):  # type: ignore[misc]  # one base per area module
    @field(
        "Read-your-writes: waits until every read model has applied "
        "`position` (a command's answer), at most `timeoutMs`, then answers the "
        "nested query. `extensions.freshness.timedOut` says if it gave up."
    )
    def at_least(self, info: Info, position: int, timeout_ms: int | None = None) -> Query:
        # The wait itself ran before execution, once for the whole request (read_api.waits)
        if position < 0 or (timeout_ms is not None and timeout_ms < 0):
            raise PublicError("position and timeoutMs must not be negative")
        refused = REFUSED.get()
        if refused is not None:
            raise refused
        return Query()


class ReadSchema(strawberry.Schema):
    """Every error of every operation passes `process_errors`: there each gets its code, and
    internal ones are logged, then masked (`read_api.errors`). With introspection off, no
    error suggests names ("Did you mean …?"): the schema stays hidden."""

    hide_suggestions = False

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            if code_of(error) == INTERNAL:  # a client's mistake (input, limits, auth) is not ours
                StrawberryLogger.error(error, execution_context)
            settle(error, hide_suggestions=self.hide_suggestions)


def build_schema(api: ReadApi) -> strawberry.Schema:
    schema = ReadSchema(
        query=Query,
        subscription=Subscription,
        extensions=extensions(api.config),
        config=StrawberryConfig(disable_field_suggestions=False),
        execution_context_class=PrebuiltExecutor,
    )
    schema.hide_suggestions = not api.config.introspection
    return schema


class ReadRouter(GraphQLRouter[Context, None]):
    """Refuses the legacy `graphql-ws` subprotocol at the handshake; authenticates sockets in
    `connection_init` and closes them at the token's expiry; identical subscriptions share one
    execution (`read_api.sockets`, `read_api.broadcast`)."""

    graphql_transport_ws_handler_class = ReadSockets
    ide_page: str | None = None
    """GraphiQL's page (the composition root serves its assets locally); None: strawberry's."""

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(self.ide_page or self.graphql_ide_html)

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        if (
            self.is_websocket_request(request)
            and await self.pick_websocket_subprotocol(request) is None
        ):
            return await self.reject_websocket(request)
        try:
            return await super().run(request, context, root_value)
        except HTTPException as exc:  # not JSON, no query…: a GraphQL error too, with a code
            kind = NotFound if exc.status_code == 404 else BadRequest
            body = {"errors": [as_graphql_error(kind(exc.reason)).formatted]}
            return Response(orjson.dumps(body), exc.status_code, media_type="application/json")

    def encode_json(self, data: object) -> str:
        # orjson, never json: answers may hold `orjson.Fragment`s (read_api.prebuilt)
        return orjson.dumps(data).decode()  # text: websocket frames must be text

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        response = Response(
            orjson.dumps(response_data),
            media_type="application/json",
            status_code=sub_response.status_code or 200,
        )
        response.headers.raw.extend(sub_response.headers.raw)
        return response

    def parse_json(self, data: str | bytes) -> Any:
        return orjson.loads(data)  # its JSONDecodeError is json's: a 400, as before

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        try:
            context.viewer = context.api.authenticate(connection_authorization(params))
        except PublicError as exc:
            raise ConnectionRejectionError({"message": str(exc)}) from exc
        acknowledged: UnsetType = UNSET  # a plain connection_ack
        return acknowledged


def build_router(api: ReadApi, ide_page: str | None = None) -> ReadRouter:
    async def get_context(connection: HTTPConnection) -> Context:
        await api.ready()
        websocket = isinstance(connection, WebSocket)
        ctx = Context(api, transient=websocket)
        if not websocket:
            verified = connection.scope.get(VIEWER)
            try:
                ctx.viewer = (
                    verified
                    if isinstance(verified, Viewer)
                    else api.authenticate(connection.headers.get("authorization"))
                )
            except (Unauthenticated, Forbidden) as exc:
                ctx.refusal = exc
        return ctx

    router = ReadRouter(
        build_schema(api),
        graphql_ide="graphiql" if api.config.graphiql else None,
        context_getter=get_context,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        connection_init_wait_timeout=timedelta(seconds=api.config.connection_init_timeout),
        max_subscriptions_per_connection=api.config.max_subscriptions_per_connection,
    )
    router.ide_page = ide_page
    return router

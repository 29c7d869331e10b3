"""The command API over HTTP, generated from the registry: one POST route per command."""

from __future__ import annotations

import difflib
import inspect
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
import structlog
from fastapi import APIRouter, Depends, File, Form, Header, Request, Security, UploadFile
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commands.auth import Principal, TokenCodec, Unauthenticated
from commands.context import Recorded
from commands.ports import AsyncRateLimiter, BlobStore
from commands.problems import PayloadTooLarge, problem, too_many
from commands.registry import Command, CommandSpec
from commands.service import CommandService, TooManyCommands
from domain.errors import InvalidInput, NotFound
from domain.storable import require_storable

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
COMMANDS_PREFIX = "/v1/commands"


class CommandAccepted(BaseModel):
    id: uuid.UUID
    version: int
    position: int


BEARER = HTTPBearer(
    scheme_name="bearer",
    bearerFormat="JWT",
    description="A bsdflow token (`bsdflow token --tenant T --role R` mints one in development), "
    "or a service account's API key (`bsk_…`, from `create-api-key`).",
    auto_error=False,  # a missing or malformed token is the codec's 401 problem, as before
)


def principal_of(codec: TokenCodec) -> Callable[..., Principal]:
    """The dependency reading a request's bearer token (declared as the OpenAPI security of
    each command, so /docs has an Authorize button)."""

    def principal(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
    ) -> Principal:
        return codec.principal(f"Bearer {credentials.credentials}" if credentials else None)

    return principal


@dataclass(frozen=True)
class CommandEndpoints:
    """What the command routes need, given by the composition root."""

    service: CommandService
    tokens: TokenCodec
    uploads: BlobStore


def _request_ids(request: Request) -> dict[str, str]:
    """The ids the events of this request's command carry, to trace it across services."""
    request_id: str = request.state.request_id
    return {
        "correlation_id": request.headers.get("x-correlation-id") or request_id,
        "causation_id": request_id,
        "request_id": request_id,
    }


def _key(value: str | None) -> str | None:
    if value is not None and not IDEMPOTENCY_KEY.match(value):
        raise InvalidInput("1-255 printable ASCII characters", ("Idempotency-Key",))
    return value


def _accepted(result: Recorded) -> Response:
    body = {
        "id": str(result.id),
        "version": result.version,
        "position": result.position,
        **result.shown_once,
    }
    # What is said once must not be kept by a cache or proxy on its way either.
    headers = {"Cache-Control": "no-store"} if result.shown_once else None
    return Response(orjson.dumps(body), media_type="application/json", headers=headers)


def _json_endpoint(spec: CommandSpec[Any], deps: CommandEndpoints) -> Callable[..., Any]:
    async def endpoint(
        request: Request, body: Command, who: Principal, idempotency_key: str | None
    ) -> Response:
        ids, admitted = _request_ids(request), bool(request.scope.get(ADMITTED))
        key = _key(idempotency_key)
        return _accepted(await deps.service.submit(spec, body, who, ids, key, admitted=admitted))

    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request),
            inspect.Parameter("body", inspect.Parameter.KEYWORD_ONLY, annotation=spec.model),
            _principal_param(deps),
            _idempotency_param(),
        ]
    )
    return endpoint


def _upload_endpoint(spec: CommandSpec[Any], deps: CommandEndpoints) -> Callable[..., Response]:
    form_fields = list(spec.model.model_fields)

    def endpoint(
        request: Request, file: UploadFile, who: Principal, idempotency_key: str | None, **form: Any
    ) -> Response:
        body = spec.model.model_validate({k: v for k, v in form.items() if v is not None})
        require_storable({"filename": file.filename, "content_type": file.content_type}, ("file",))
        staged = deps.uploads.stage(file.file, file.filename or "upload", file.content_type or "")
        try:
            result = deps.service.execute(
                spec, body, who, _request_ids(request), _key(idempotency_key), staged,
                admitted=bool(request.scope.get(ADMITTED)),
            )  # fmt: skip
        finally:
            deps.uploads.discard(staged)
        return _accepted(result)

    params = [
        inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request),
        inspect.Parameter(
            "file", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[UploadFile, File()]
        ),
        _principal_param(deps),
        _idempotency_param(),
    ]
    for name in form_fields:
        info = spec.model.model_fields[name]
        params.append(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[str | None, Form(description=info.description)],
                default=None,
            )
        )
    endpoint.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return endpoint


def _principal_param(deps: CommandEndpoints) -> inspect.Parameter:
    return inspect.Parameter(
        "who",
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[Principal, Depends(principal_of(deps.tokens))],
    )


def _idempotency_param() -> inspect.Parameter:
    return inspect.Parameter(
        "idempotency_key",
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[str | None, Header(alias="Idempotency-Key")],
        default=None,
    )


def command_router(commands: Mapping[str, CommandSpec[Any]], deps: CommandEndpoints) -> APIRouter:
    router = APIRouter(tags=["commands"])
    for spec in commands.values():
        make = _upload_endpoint if spec.upload else _json_endpoint
        paths = [f"{COMMANDS_PREFIX}/{spec.name}", *([spec.alias] if spec.alias else [])]
        for path in paths:
            router.add_api_route(
                path,
                make(spec, deps),
                methods=["POST"],
                name=spec.name if path != spec.alias else f"{spec.name} ({path})",
                summary=spec.summary,
                description=f"Requires permission `{spec.permission}`.",
                response_model=spec.reply or CommandAccepted,
                responses={
                    401: {"description": "Missing or invalid bearer token"},
                    403: {"description": "Roles do not grant this command"},
                    404: {"description": "Addressed object not found in your tenant"},
                    409: {"description": "Expected-version conflict or value already taken"},
                    413: {"description": "Body too large"},
                    422: {"description": "Invalid input (problem+json with field paths)"},
                    429: {"description": "Over the tenant's commands_per_second (see Retry-After)"},
                },
            )
    router.add_api_route(
        f"{COMMANDS_PREFIX}/{{name}}",
        _unknown_command(sorted(commands)),
        methods=["POST"],
        include_in_schema=False,
    )
    return router


def _unknown_command(names: list[str]) -> Callable[[str], Response]:
    """Last route under the prefix: a mistyped name is told the nearest real ones."""

    def unknown(name: str) -> Response:
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.8)
        listed = " or ".join(close) if len(close) < 3 else f"{', '.join(close[:-1])} or {close[-1]}"
        hint = f"did you mean {listed}?" if close else f"see {COMMANDS_PREFIX} in /docs"
        raise NotFound(f"no command {name!r}; {hint}")

    return unknown


class RequestContextMiddleware:
    """Gives every request an `X-Request-ID` (kept if sent) and binds it into the logs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        sent = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = sent if 0 < len(sent) <= 128 and sent.isprintable() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await self.app(scope, receive, send_with_id)


ADMITTED = "bsdflow.admitted"
"""Scope key: the command's token was taken (`AdmitFirstMiddleware`)."""


class AdmitFirstMiddleware:
    """A command takes its tenant's token here, before it is routed, its body read or a
    thread taken (`CommandService.admit`): over `commands_per_second` it is answered 429 at
    the cost of a token check and one Redis call (none while the last refusal holds), not a
    command's work, so a tenant flooding the API leaves the process to the others.
    Verified tokens are remembered (by their exact header, until they expire): a flood
    repeats one. A request without a valid token goes on, to be answered by the endpoint."""

    MAX_TOKENS = 4_096

    def __init__(
        self, app: ASGIApp, service: CommandService, codec: TokenCodec, limiter: AsyncRateLimiter
    ) -> None:
        self.app = app
        self.service = service
        self.codec = codec
        self.limiter = limiter
        self._principals: dict[bytes, Principal] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].startswith(COMMANDS_PREFIX + "/")
        ):
            principal = self._principal(dict(scope["headers"]).get(b"authorization"))
            try:
                if principal is not None and await self.service.admit(principal, self.limiter):
                    scope[ADMITTED] = True
            except TooManyCommands as refused:
                await too_many(Request(scope), refused)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _principal(self, header: bytes | None) -> Principal | None:
        if header is None:
            return None
        principal = self._principals.get(header)
        if principal is None:
            try:
                principal = self.codec.principal(header.decode("latin-1"))
            except Unauthenticated:
                return None  # the endpoint answers it
            if len(self._principals) >= self.MAX_TOKENS:
                self._principals.clear()
            self._principals[header] = principal
        if principal.expires_at is not None and principal.expires_at <= time.time():
            del self._principals[header]
            return None
        return principal


class BodyLimitMiddleware:
    """Refuses bodies over the limit (413) before they are read into memory."""

    def __init__(self, app: ASGIApp, limit: int, upload_limit: int) -> None:
        self.app = app
        self.limit = limit
        self.upload_limit = upload_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_upload = dict(scope["headers"]).get(b"content-type", b"").startswith(b"multipart/")
        limit = self.upload_limit if is_upload else self.limit
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            refusal = problem(Request(scope), 413, "Payload too large", str(PayloadTooLarge(limit)))
            await refusal(scope, receive, send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                # An HTTPException, because FastAPI turns anything else raised while it reads
                # the body into a 400 "error parsing the body".
                raise HTTPException(413, str(PayloadTooLarge(limit)))
            return message

        await self.app(scope, counting_receive, send)

"""Every error as `application/problem+json` (RFC 9457), from one place."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from commands.auth import Forbidden, Unauthenticated
from commands.prevalidation import ValidationUnavailable
from commands.service import IdempotencyKeyReused, TooManyCommands
from domain.errors import Conflict, DomainError, InvalidInput, NotFound
from domain.fields import DataInvalid, FieldError
from domain.storable import MAX_DEPTH
from domain.workflow import GuardFailed, NotPermitted

log = structlog.get_logger("bsdflow.problems")
Path = Sequence[str | int]


class PayloadTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body exceeds {limit} bytes")
        self.limit = limit


def problem(
    request: Request,
    status: int,
    title: str,
    detail: str,
    errors: list[tuple[Path, str]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": f"https://bsdflow.dev/problems/{title.lower().replace(' ', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    if errors:
        body["errors"] = [
            {"path": list(path), "pointer": _pointer(path), "message": message}
            for path, message in errors
        ]
    body.update(extra or {})
    return Response(
        orjson.dumps(body), status, headers=headers, media_type="application/problem+json"
    )


def _pointer(path: Path) -> str:
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _validation_errors(raw: Sequence[Any]) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    for error in raw:
        loc = list(error.get("loc", ()))
        if loc and loc[0] in ("body", "form"):
            loc = loc[1:]
        if error.get("type") == "json_invalid":
            found.append(
                ([], f"malformed JSON: {error.get('ctx', {}).get('error', 'cannot parse')}")
            )
        elif error.get("type") == "extra_forbidden":
            found.append((loc, "unknown field"))
        else:
            found.append((loc, str(error.get("msg", "invalid"))))
    return found


def _body_not_json(request: Request, raw: Sequence[Any]) -> bool:
    """FastAPI leaves a body it was not told is JSON as bytes, which then fails to be an object:
    the fault is the header, not the fields."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "application/json" or media_type.endswith("+json"):
        return False
    if media_type.startswith("multipart/") or media_type == "application/x-www-form-urlencoded":
        return False
    return any(tuple(error.get("loc", ())) == ("body",) for error in raw)


def too_many(request: Request, exc: TooManyCommands) -> Response:
    retry = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
    return problem(request, 429, "Too many requests", exc.message, headers=retry)


def install(app: FastAPI) -> None:
    """Register the one exception handler chain used by every route."""

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(request: Request, exc: RequestValidationError) -> Response:
        if _body_not_json(request, exc.errors()):
            return problem(
                request,
                415,
                "Unsupported media type",
                "send the body as JSON, with the header Content-Type: application/json",
            )
        errors = _validation_errors(exc.errors())
        return problem(request, 422, "Invalid request", "the request body is not valid", errors)

    @app.exception_handler(ValidationError)
    async def _model_invalid(request: Request, exc: ValidationError) -> Response:
        errors = _validation_errors(exc.errors())
        return problem(request, 422, "Invalid request", "the request body is not valid", errors)

    @app.exception_handler(DataInvalid)
    async def _data_invalid(request: Request, exc: DataInvalid) -> Response:
        errors: list[tuple[Path, str]] = [(e.path, e.message) for e in exc.errors]
        return problem(request, 422, "Invalid data", f"{len(errors)} field(s) rejected", errors)

    @app.exception_handler(FieldError)
    async def _field_invalid(request: Request, exc: FieldError) -> Response:
        return problem(request, 422, "Invalid data", exc.message, [(exc.path, exc.message)])

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        if isinstance(exc, TooManyCommands):
            return too_many(request, exc)
        status, title = {
            NotFound: (404, "Not found"),
            Conflict: (409, "Conflict"),
            InvalidInput: (422, "Invalid request"),
            IdempotencyKeyReused: (422, "Idempotency key reused"),
            ValidationUnavailable: (504, "Validation timed out"),
            NotPermitted: (403, "Forbidden"),
            GuardFailed: (422, "Guard failed"),
        }.get(type(exc), (422, "Invalid request"))
        errors: list[tuple[Path, str]] | None = [(exc.path, exc.message)] if exc.path else None
        # A refused transition shows why: the guard's trace, as a rule's dry run shows it.
        extra = {"trace": exc.explanation.trace.to_json()} if isinstance(exc, GuardFailed) else None
        return problem(request, status, title, exc.message, errors, extra=extra)

    @app.exception_handler(Unauthenticated)
    async def _unauthenticated(request: Request, exc: Unauthenticated) -> Response:
        headers = {"WWW-Authenticate": 'Bearer realm="bsdflow"'}
        return problem(request, 401, "Unauthenticated", str(exc), headers=headers)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return problem(request, 403, "Forbidden", str(exc))

    @app.exception_handler(PayloadTooLarge)
    async def _too_large(request: Request, exc: PayloadTooLarge) -> Response:
        return problem(request, 413, "Payload too large", str(exc))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        if isinstance(exc.__cause__, RecursionError):
            # FastAPI's "error parsing the body": json.loads gave up on the nesting itself.
            message = f"nested deeper than {MAX_DEPTH} levels"
            return problem(request, 422, "Invalid request", message, [([], message)])
        titles = {404: "Not found", 405: "Method not allowed", 413: "Payload too large"}
        return problem(
            request, exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail)
        )

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", path=request.url.path)
        return problem(request, 500, "Internal error", "an unexpected error occurred")

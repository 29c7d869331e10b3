"""Every GraphQL error leaves with `extensions.code`, decided here and nowhere else.

The codes are Apollo's where Apollo has one, so Apollo and Hasura clients can tell their own
mistakes from ours:

- `BAD_USER_INPUT`: an argument, variable, cursor, page size or `X-Min-Position` is wrong;
- `GRAPHQL_PARSE_FAILED`: the document is not GraphQL, or has more tokens than allowed;
- `GRAPHQL_VALIDATION_FAILED`: the document does not fit the schema (unknown field, too deep,
  too many aliases, introspection when it is off);
- `BAD_REQUEST`: the request cannot be served as sent (not JSON, no query, a document over the
  size limit, a subscription over HTTP);
- `UNAUTHENTICATED`, `FORBIDDEN`; `NOT_FOUND` (a missing object by id is `null`, not this: other
  tenants' ids must look exactly like missing ones);
- `RATE_LIMITED`: too many waits in progress for the tenant, too many operations on a socket,
  the tenant's minute of query cost spent (`extensions.retryAfter`), too many subscriptions;
- `COST_LIMIT`: the query costs more than the tenant allows one query (`read_api.quotas`);
- `SLOW_CONSUMER`: a subscription fell too far behind and was dropped;
- `INTERNAL`: anything unexpected; the message is replaced, the details go to the log.

Resolvers raise the typed exceptions below; `ReadSchema.process_errors` (every error of every
operation passes there, HTTP or websocket) calls `settle` to set the code and mask internals.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError

from projections.paging import BadCursorError

BAD_USER_INPUT = "BAD_USER_INPUT"
PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
INTERNAL = "INTERNAL"
MASKED = "Unexpected error."


class PublicError(Exception):
    """The client's mistake, explained: shown with its message, path and `extensions.code`.

    `status` is the HTTP status when the error fails the whole request (None: 200, as
    GraphQL answers errors in fields)."""

    code = BAD_USER_INPUT
    status: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.extensions: dict[str, Any] = {"code": self.code}


class BadRequest(PublicError):
    code = "BAD_REQUEST"
    status = 400


class DocumentTooLarge(BadRequest):
    status = 413


class Unauthenticated(PublicError):
    code = "UNAUTHENTICATED"
    status = 401


class Forbidden(PublicError):
    code = "FORBIDDEN"
    status = 403


class NotFound(PublicError):
    code = "NOT_FOUND"
    status = 404


class RateLimited(PublicError):
    code = "RATE_LIMITED"
    status = 429
    retry_after: int | None = None
    """Seconds until trying again can succeed (HTTP: the `Retry-After` header)."""


OTHER_LAYERS: tuple[tuple[type[Exception], str], ...] = ((BadCursorError, BAD_USER_INPUT),)
"""Exceptions of the layers below (which cannot import this module) that are the client's."""

SUGGESTION = re.compile(r"\s*Did you mean .*$", re.DOTALL)
"""graphql-core appends its "Did you mean …?" hints at the end of a message."""


def code_of(error: GraphQLError) -> str:
    found = (error.extensions or {}).get("code")
    if isinstance(found, str):
        return found
    original = error.original_error
    if original is None:
        # graphql-core's own errors: documents are settled by phase (`tag`), what is left
        # are variables and arguments that do not coerce
        return PARSE_FAILED if isinstance(error, GraphQLSyntaxError) else BAD_USER_INPUT
    if isinstance(original, PublicError):
        return original.code
    for kind, code in OTHER_LAYERS:
        if isinstance(original, kind):
            return code
    if isinstance(original, GraphQLError):
        return code_of(original)
    return INTERNAL


def tag(errors: Iterable[GraphQLError], code: str) -> None:
    """Give errors of a known phase (parsing, validation) their code, unless they have one."""
    for error in errors:
        if not (error.extensions or {}).get("code"):
            error.extensions = {**(error.extensions or {}), "code": code}


def settle(error: GraphQLError, *, hide_suggestions: bool) -> None:
    """Set the error's code, and mask it if internal (log it before: the message goes)."""
    code = code_of(error)
    error.extensions = {**(error.extensions or {}), "code": code}
    if hide_suggestions:
        error.message = SUGGESTION.sub("", error.message)
    if code == INTERNAL:
        error.message = MASKED


def as_graphql_error(error: PublicError) -> GraphQLError:
    return GraphQLError(str(error), original_error=error, extensions=error.extensions)

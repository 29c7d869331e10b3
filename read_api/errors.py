"""Errors a client may see verbatim; every other exception is masked as "Unexpected error."."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from projections.paging import BadCursorError


class PublicError(Exception):
    """The client's mistake, explained: shown with its message, path and `extensions.code`."""

    code = "BAD_USER_INPUT"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.extensions: dict[str, Any] = {"code": self.code}


class Unauthenticated(PublicError):
    code = "UNAUTHENTICATED"


class Forbidden(PublicError):
    code = "FORBIDDEN"


PUBLIC = (PublicError, BadCursorError)


def should_mask(error: GraphQLError) -> bool:
    """Mask internal failures only: validation errors (no original error) keep their message."""
    original = error.original_error
    if original is None or isinstance(original, PUBLIC):
        return False
    return not isinstance(original, GraphQLError)


def as_graphql_error(error: PublicError) -> GraphQLError:
    return GraphQLError(str(error), original_error=error, extensions=error.extensions)

"""Relay connections, page-size rules and small helpers shared by every area."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar, cast

import strawberry

from projections.paging import MAX_PAGE, Page
from read_api.context import Context
from read_api.errors import PublicError

Info = strawberry.Info[Context, None]
F = TypeVar("F", bound=Callable[..., Any])
N = TypeVar("N")
R = TypeVar("R")
DEFAULT_PAGE = 50


@strawberry.type(description="Forward pagination: pass `endCursor` as `after` for the next page.")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None
    has_previous_page: bool = False
    start_cursor: str | None = None


@strawberry.type
class Edge(Generic[N]):
    cursor: str
    node: N


@strawberry.type
class Connection(Generic[N]):
    edges: list[Edge[N]]
    page_info: PageInfo


def field(description: str) -> Callable[[F], F]:
    """`@strawberry.field(description=…)`, typed (strawberry's overload for it returns Any)."""

    def decorate(resolver: F) -> F:
        return cast("F", strawberry.field(resolver, description=description))

    return decorate


def subscription(description: str) -> Callable[[F], F]:
    def decorate(resolver: F) -> F:
        return cast("F", strawberry.subscription(resolver, description=description))

    return decorate


def page_size(first: int, limit: int = MAX_PAGE) -> int:
    """`first` beyond the cap is an error, not silently shortened: the client would miss rows."""
    if not 1 <= first <= limit:
        raise PublicError(f"first must be between 1 and {limit} (got {first})")
    return first


def page_info(page: Page[Any]) -> PageInfo:
    return PageInfo(
        has_next_page=page.has_next,
        end_cursor=page.end_cursor,
        start_cursor=page.cursors[0] if page.cursors else None,
    )


def connection(page: Page[R], node: Callable[[R], N]) -> Connection[N]:
    """Edges with the cursors the query class made (each in its own keyset format)."""
    edges = [
        Edge(cursor=cursor, node=node(row))
        for row, cursor in zip(page.items, page.cursors, strict=True)
    ]
    return Connection(edges=edges, page_info=page_info(page))


def present(rows: Sequence[R | None]) -> list[R]:
    return [row for row in rows if row is not None]


def json_object(value: Any, name: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise PublicError(f"{name} must be a JSON object of field values")
    return value

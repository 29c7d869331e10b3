"""Relay connections, page-size rules and small helpers shared by every area."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar, cast

import strawberry
from strawberry.types.base import has_object_definition

from projections.paging import MAX_PAGE, Page
from read_api.context import Context
from read_api.errors import PublicError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Info = strawberry.Info[Context, None]
F = TypeVar("F", bound=Callable[..., Any])
N = TypeVar("N")
R = TypeVar("R")
W = TypeVar("W", bound="DataclassInstance")
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


def field(description: str, name: str | None = None) -> Callable[[F], F]:
    """`@strawberry.field(description=…)`, typed (strawberry's overload for it returns Any)."""

    def decorate(resolver: F) -> F:
        return cast("F", strawberry.field(resolver, description=description, name=name))

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


def _adopt_fields(cls: type) -> tuple[type, tuple[str, ...]]:
    """The plain dataclass `cls` subclasses, and its field names, after giving `cls` an
    annotation (resolved) for each field it does not redeclare.

    Strawberry resolves an inherited field's string annotation in the subclass's module, where
    the row's names (`UUID`, `datetime`…) need not be imported; resolved types need no module.
    """
    wrapped = [
        base
        for base in cls.__mro__[1:]
        if dataclasses.is_dataclass(base) and not has_object_definition(base)
    ]
    if not wrapped:
        raise TypeError(f"{cls.__name__} must subclass the dataclass it wraps")
    hints = typing.get_type_hints(wrapped[0])
    names = tuple(f.name for f in dataclasses.fields(wrapped[0]))
    own = inspect.get_annotations(cls)
    cls.__annotations__ = own | {name: hints[name] for name in names if name not in own}
    return wrapped[0], names


class RowType(Generic[W]):
    """Base of a GraphQL object type that subclasses a read model's row:
    `class Entity(EntityRow, RowType[EntityRow])` declares only what differs from the row
    (resolvers, descriptions, fields of another GraphQL type). Strawberry reads fields by
    attribute, so the row's values are the type's."""

    _fields: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._fields = _adopt_fields(cls)[1]

    @classmethod
    def of(cls, row: W) -> Self:
        make: Callable[..., Self] = cls  # its __init__ is made by strawberry's dataclass
        return make(**{name: getattr(row, name) for name in cls._fields})


class FilterInput(Generic[W]):
    """Base of a GraphQL input that subclasses a read model's filter, so each filter field is
    declared once; `checked` is where an input validates what its GraphQL types cannot."""

    _filter: ClassVar[type[Any]]
    _fields: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._filter, cls._fields = _adopt_fields(cls)

    def to_filter(self) -> W:
        return self.checked(self._filter(**{name: getattr(self, name) for name in self._fields}))

    def checked(self, where: W) -> W:
        return where

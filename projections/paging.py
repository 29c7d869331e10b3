"""Keyset (cursor) pagination shared by every read model: stable under inserts, O(page) cost."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import orjson

T = TypeVar("T")
MAX_PAGE = 200


class BadCursorError(ValueError):
    pass


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    has_next: bool
    end_cursor: str | None
    total: int | None = None
    cursors: list[str] = field(default_factory=list)
    """One cursor per item (resuming right after it), in the query's own keyset format."""


def encode_cursor(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(key), default=str)).decode()


def decode_cursor(cursor: str) -> list[Any]:
    try:
        key = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise BadCursorError("not a cursor from this API") from exc
    if not isinstance(key, list):
        raise BadCursorError("not a cursor from this API")
    return key


def clamp(first: int) -> int:
    if first < 1:
        raise ValueError("first must be at least 1")
    return min(first, MAX_PAGE)


def page_of(rows: list[T], first: int, key_of: Any) -> Page[T]:
    """`rows` were fetched with LIMIT first + 1: the extra row only says there is more."""
    has_next = len(rows) > first
    items = rows[:first]
    cursors = [encode_cursor(key_of(item)) for item in items]
    return Page(items, has_next, cursors[-1] if cursors else None, cursors=cursors)

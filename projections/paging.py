"""Keyset (cursor) pagination shared by every read model: stable under inserts, O(page) cost."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
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
    return Page(items, has_next, encode_cursor(key_of(items[-1])) if items else None)

"""Small checks shared by several aggregates."""

from __future__ import annotations

from domain.errors import InvalidInput


def clean_name(value: str, path: tuple[str | int, ...] = ("name",), max_length: int = 200) -> str:
    """A display name: trimmed, non-empty, bounded."""
    value = value.strip()
    if not 1 <= len(value) <= max_length:
        raise InvalidInput(f"must be 1-{max_length} characters", path)
    return value

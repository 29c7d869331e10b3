"""Small readers shared by the schedule kinds: each refusal names the exact JSON path."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from domain.errors import InvalidInput
from domain.schedules.durations import Path

_MAX_INSTANT_LENGTH = 64


def check_keys(raw: Mapping[str, object], allowed: Iterable[str], path: Path) -> None:
    """Unknown keys are refused rather than dropped, so a typo never silently changes timing."""
    known = sorted(allowed)
    for key in raw:
        if key not in known:
            raise InvalidInput(f"unknown key; expected one of {', '.join(known)}", (*path, key))


def required(raw: Mapping[str, object], key: str, path: Path) -> object:
    if raw.get(key) is None:
        raise InvalidInput("is required", (*path, key))
    return raw[key]


def read_text(value: object, path: Path, max_length: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("must be a non-empty string", path)
    if len(value) > max_length:
        raise InvalidInput(f"must be at most {max_length} characters", path)
    return value.strip()


def read_instant(value: object, path: Path) -> datetime:
    """An ISO 8601 date-time with its offset kept (so to_json gives back what was written)."""
    hint = "must be an ISO 8601 date-time like 2026-12-01T09:00:00+01:00"
    if not isinstance(value, str) or len(value) > _MAX_INSTANT_LENGTH:
        raise InvalidInput(hint, path)
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(hint, path) from None
    if moment.utcoffset() is None:
        raise InvalidInput("must include a timezone offset", path)
    return moment

"""Errors for field definitions and field values, each carrying the path of the bad part."""

from __future__ import annotations

Path = tuple[str | int, ...]


def _render(path: Path, message: str) -> str:
    return f"{'.'.join(str(part) for part in path)}: {message}" if path else message


class FieldError(Exception):
    """One problem, located by path so clients can point at the exact input."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(_render(path, message))
        self.path = path
        self.message = message


class DataInvalid(Exception):
    """Several problems at once, so a form can show every mistake in one round trip."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(error) for error in errors) or "invalid data")
        self.errors = errors


class NestedValueError(ValueError):
    """A ValueError from a composite value that still knows which part of it was wrong.

    Strategies promise to raise ValueError; this subclass keeps that promise while letting
    validate_data report e.g. ("tags", 1) instead of just ("tags",).
    """

    def __init__(self, problems: list[tuple[Path, str]]) -> None:
        super().__init__("; ".join(_render(path, message) for path, message in problems))
        self.problems = problems

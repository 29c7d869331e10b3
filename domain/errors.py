"""Domain errors: what a command can be refused for, independent of HTTP."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every refusal the domain can make; carries an optional field path."""

    def __init__(self, message: str, path: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


class InvalidInput(DomainError):
    """The command asks for something the rules do not allow."""


class Conflict(DomainError):
    """The request collides with the current state (a taken name, a closed process)."""


class NotFound(DomainError):
    """The addressed object does not exist, or belongs to another tenant."""

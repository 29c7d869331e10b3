"""The command registry: one list from which the HTTP routes, OpenAPI and permissions derive."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, model_validator

from commands.context import CommandContext, Recorded
from domain.storable import require_storable


class Command(BaseModel):
    """A command body: immutable, and unknown fields are an error rather than ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_max_length=100_000)

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, raw: Any) -> Any:
        """Every string, key and list item of every command, before any field sees it.

        Raises DataInvalid (not a ValueError, so pydantic passes it through) for its paths.
        """
        require_storable(raw)
        return raw


C = TypeVar("C", bound=Command)
Handler = Callable[[C, CommandContext], Recorded]


@dataclass(frozen=True)
class CommandSpec(Generic[C]):
    name: str
    model: type[C]
    handler: Handler[C]
    permission: str
    upload: bool = False
    """The body is multipart: the model's fields as form fields plus one `file`."""
    validation: str | None = None
    """Checked first by the validation worker over request-reply (which checks it)."""
    alias: str | None = None
    """Also served at this path, outside /v1/commands (`POST /v1/imports`)."""
    reply: type[BaseModel] | None = None
    """The reply's schema in OpenAPI, for a command answering more than id, version, position."""

    @property
    def summary(self) -> str:
        return (self.model.__doc__ or self.name).strip().splitlines()[0]


def registry(*specs: CommandSpec[Any]) -> dict[str, CommandSpec[Any]]:
    names = [spec.name for spec in specs]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"commands registered twice: {sorted(duplicates)}")
    return {spec.name: spec for spec in specs}


def collect(*groups: Sequence[CommandSpec[Any]]) -> dict[str, CommandSpec[Any]]:
    return registry(*(spec for group in groups for spec in group))

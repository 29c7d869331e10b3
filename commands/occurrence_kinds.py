"""Occurrence kind commands: give a kind of occurrence typed fields."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from commands.context import CommandContext, Recorded
from commands.registry import Command, CommandSpec
from domain.occurrence_kind import OccurrenceKind


class DefineOccurrenceKind(Command):
    """Give occurrences of a kind typed fields; rules and templates are then checked against
    them, and recorded occurrences of the kind are validated."""

    name: str
    description: str = ""
    fields: list[dict[str, Any]]


def define_occurrence_kind(cmd: DefineOccurrenceKind, ctx: CommandContext) -> Recorded:
    kind = OccurrenceKind.define(ctx.tenant_id, cmd.name, cmd.fields, cmd.description)
    ctx.reserve(kind.id, f"occurrence kind {cmd.name!r}", ("name",))
    return ctx.save(kind)


class ReviseOccurrenceKind(Command):
    """Replace an occurrence kind's fields (occurrences already recorded are kept as they are)."""

    occurrence_kind_id: UUID
    fields: list[dict[str, Any]]
    expected_version: int | None = None


def revise_occurrence_kind(cmd: ReviseOccurrenceKind, ctx: CommandContext) -> Recorded:
    kind = ctx.load(
        OccurrenceKind, cmd.occurrence_kind_id, cmd.expected_version, ("occurrence_kind_id",)
    )
    kind.revise(cmd.fields)
    return ctx.save(kind)


def occurrence_kind_named(ctx: CommandContext, name: str) -> OccurrenceKind | None:
    kind_id = OccurrenceKind.create_id(ctx.tenant_id, name)
    if not ctx.store.exists(kind_id):
        return None
    return ctx.load(OccurrenceKind, kind_id)


SPECS: list[CommandSpec[Any]] = [
    CommandSpec(
        "define-occurrence-kind", DefineOccurrenceKind, define_occurrence_kind, "schema:write"
    ),
    CommandSpec(
        "revise-occurrence-kind", ReviseOccurrenceKind, revise_occurrence_kind, "schema:write"
    ),
]

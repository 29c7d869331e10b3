"""Entity type (schema) commands."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from commands.context import CommandContext, Recorded
from commands.registry import Command, CommandSpec
from domain.entity_type import EntityType
from domain.ids import entity_type_id_for


class DefineEntityType(Command):
    """Define a kind of record with typed fields; the name is unique within the tenant."""

    name: str
    description: str = ""
    fields: list[dict[str, Any]]
    search_importance: str | None = None
    location_field: str | None = None
    """A geo_point field whose value is the entity's location for geo queries."""


def define_entity_type(cmd: DefineEntityType, ctx: CommandContext) -> Recorded:
    type_id = entity_type_id_for(ctx.tenant_id, cmd.name)
    entity_type = EntityType.define(
        ctx.tenant_id,
        cmd.name,
        cmd.fields,
        cmd.description,
        cmd.search_importance,
        cmd.location_field,
    )
    ctx.reserve(type_id, f"entity type {cmd.name!r}", ("name",))
    return ctx.save(entity_type)


class ReviseEntityType(Command):
    """Replace the field list: a new schema version; existing entities stay readable."""

    entity_type_id: UUID
    fields: list[dict[str, Any]]
    search_importance: str | None = None
    location_field: str | None = None
    expected_version: int | None = None


def revise_entity_type(cmd: ReviseEntityType, ctx: CommandContext) -> Recorded:
    entity_type = ctx.load(
        EntityType, cmd.entity_type_id, cmd.expected_version, ("entity_type_id",)
    )
    entity_type.revise(cmd.fields, cmd.search_importance, cmd.location_field)
    return ctx.save(entity_type)


class RetireEntityType(Command):
    """Stop new entities of this type from being created."""

    entity_type_id: UUID
    expected_version: int | None = None


def retire_entity_type(cmd: RetireEntityType, ctx: CommandContext) -> Recorded:
    entity_type = ctx.load(
        EntityType, cmd.entity_type_id, cmd.expected_version, ("entity_type_id",)
    )
    entity_type.retire()
    return ctx.save(entity_type)


SPECS: list[CommandSpec[Any]] = [
    CommandSpec("define-entity-type", DefineEntityType, define_entity_type, "schema:write"),
    CommandSpec("revise-entity-type", ReviseEntityType, revise_entity_type, "schema:write"),
    CommandSpec("retire-entity-type", RetireEntityType, retire_entity_type, "schema:write"),
]

"""Entity commands: records of tenant-defined types."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from commands.context import CommandContext, Recorded
from commands.registry import Command, CommandSpec
from domain.entity import Entity
from domain.entity_type import EntityType
from domain.unique import UniqueClaim


class CreateEntity(Command):
    """Record an entity; `data` is validated against its type's fields."""

    entity_type_id: UUID
    data: dict[str, Any]
    location: dict[str, Any] | None = None


def create_entity(
    cmd: CreateEntity, ctx: CommandContext, entity_id: UUID | None = None
) -> Recorded:
    entity_type = ctx.load(EntityType, cmd.entity_type_id, path=("entity_type_id",))
    entity = Entity.create(entity_type, cmd.data, cmd.location, entity_id)
    ctx.check_references(entity_type.fields, entity.data)
    claims = [
        _claim(ctx, entity_type, entity, name, value)
        for name, value in entity.unique_values(entity_type.fields).items()
    ]
    return ctx.save(entity, *claims)


class UpdateEntity(Command):
    """Change some fields (a null clears an optional field) and/or the location."""

    entity_id: UUID
    data: dict[str, Any] = {}
    location: dict[str, Any] | None = None
    clear_location: bool = False
    expected_version: int | None = None


def update_entity(cmd: UpdateEntity, ctx: CommandContext) -> Recorded:
    entity = ctx.load(Entity, cmd.entity_id, cmd.expected_version, ("entity_id",))
    entity_type = ctx.load(EntityType, entity.entity_type_id, path=("entity_id",))
    before = entity.unique_values(entity_type.fields)
    entity.update(entity_type, cmd.data, cmd.location, clear_location=cmd.clear_location)
    ctx.check_references(entity_type.fields, {k: entity.data.get(k) for k in cmd.data})
    return ctx.save(entity, *_swap_claims(ctx, entity_type, entity, before))


class ArchiveEntity(Command):
    """Archive an entity; its unique values become free again."""

    entity_id: UUID
    expected_version: int | None = None


def archive_entity(cmd: ArchiveEntity, ctx: CommandContext) -> Recorded:
    entity = ctx.load(Entity, cmd.entity_id, cmd.expected_version, ("entity_id",))
    entity_type = ctx.load(EntityType, entity.entity_type_id, path=("entity_id",))
    before = entity.unique_values(entity_type.fields)
    entity.archive()
    return ctx.save(entity, *_swap_claims(ctx, entity_type, entity, before))


class ForgetEntity(Command):
    """Erase an entity's personal fields (those its type marks `personal`) everywhere, for
    good: the key their values were sealed under is destroyed. Forgetting again changes
    nothing; the entity's other fields stay."""

    entity_id: UUID


def forget_entity(cmd: ForgetEntity, ctx: CommandContext) -> Recorded:
    entity = ctx.load(Entity, cmd.entity_id, path=("entity_id",))
    entity_type = ctx.load(EntityType, entity.entity_type_id, path=("entity_id",))
    if not entity.forgotten:
        entity.forget(entity_type)  # refuses a type without personal fields, storing nothing
        # As with participants, the key goes before the event is stored.
        ctx.store.forget(ctx.tenant_id, entity.id)
    return ctx.save(entity)


def _scope(entity_type: EntityType, field: str) -> str:
    return f"{entity_type.id}:{field}"


def _claim(
    ctx: CommandContext, entity_type: EntityType, entity: Entity, name: str, value: str
) -> UniqueClaim:
    """Claims are released as values change while the field is unique; a claim made before a
    revision dropped `unique` stays behind, and is taken over once its owner no longer holds
    the value (archived, or since changed)."""

    def still_held(owner_id: UUID) -> bool:
        owner = ctx.store.find(Entity, owner_id)
        if owner is None or owner.archived:
            return False
        return owner.unique_values(entity_type.fields).get(name) == value

    return ctx.claim(_scope(entity_type, name), value, entity.id, ("data", name), still_held)


def _swap_claims(
    ctx: CommandContext, entity_type: EntityType, entity: Entity, before: dict[str, str]
) -> list[UniqueClaim]:
    after = entity.unique_values(entity_type.fields)
    changed: list[UniqueClaim] = []
    for name, value in before.items():
        if after.get(name) != value:
            released = ctx.release(_scope(entity_type, name), value)
            changed += [released] if released else []
    for name, value in after.items():
        if before.get(name) != value:
            changed.append(_claim(ctx, entity_type, entity, name, value))
    return changed


SPECS: list[CommandSpec[Any]] = [
    CommandSpec("create-entity", CreateEntity, create_entity, "data:write"),
    CommandSpec("update-entity", UpdateEntity, update_entity, "data:write"),
    CommandSpec("archive-entity", ArchiveEntity, archive_entity, "data:write"),
    CommandSpec("forget-entity", ForgetEntity, forget_entity, "data:erase"),
]

"""Group commands."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from commands.context import CommandContext, Recorded
from commands.registry import Command, CommandSpec
from domain.entity import Entity
from domain.group import Group
from domain.participant import Participant


class CreateGroup(Command):
    """Create a named set of entities and/or participants."""

    name: str
    description: str = ""


def create_group(cmd: CreateGroup, ctx: CommandContext) -> Recorded:
    return ctx.save(Group.create(ctx.tenant_id, cmd.name, cmd.description))


class RenameGroup(Command):
    """Rename a group."""

    group_id: UUID
    name: str
    expected_version: int | None = None


def rename_group(cmd: RenameGroup, ctx: CommandContext) -> Recorded:
    group = ctx.load(Group, cmd.group_id, cmd.expected_version, ("group_id",))
    group.rename(cmd.name)
    return ctx.save(group)


class ChangeGroupMembers(Command):
    """Add (or remove) entities and participants to (or from) a group."""

    group_id: UUID
    entity_ids: list[UUID] = []
    participant_ids: list[UUID] = []
    expected_version: int | None = None


def add_group_members(cmd: ChangeGroupMembers, ctx: CommandContext) -> Recorded:
    group = ctx.load(Group, cmd.group_id, cmd.expected_version, ("group_id",))
    for i, entity_id in enumerate(cmd.entity_ids):
        ctx.load(Entity, entity_id, path=("entity_ids", i))
    for i, participant_id in enumerate(cmd.participant_ids):
        ctx.load(Participant, participant_id, path=("participant_ids", i))
    group.add_members(cmd.entity_ids, cmd.participant_ids)
    return ctx.save(group)


def remove_group_members(cmd: ChangeGroupMembers, ctx: CommandContext) -> Recorded:
    group = ctx.load(Group, cmd.group_id, cmd.expected_version, ("group_id",))
    group.remove_members(cmd.entity_ids, cmd.participant_ids)
    return ctx.save(group)


SPECS: list[CommandSpec[Any]] = [
    CommandSpec("create-group", CreateGroup, create_group, "data:write"),
    CommandSpec("rename-group", RenameGroup, rename_group, "data:write"),
    CommandSpec("add-group-members", ChangeGroupMembers, add_group_members, "data:write"),
    CommandSpec("remove-group-members", ChangeGroupMembers, remove_group_members, "data:write"),
]

"""Process definition commands: publish a workflow's versions, retire it."""

from __future__ import annotations

from typing import Any

from commands.context import CommandContext, Recorded
from commands.registry import Command, CommandSpec
from domain.process_definition import ProcessDefinition


class PublishProcessDefinition(Command):
    """Publish a workflow under a key: the first publication is version 1, each change the next
    version; running processes keep the version they were opened with."""

    key: str
    name: str
    description: str = ""
    fields: list[dict[str, Any]] = []
    stages: list[Any]
    transitions: list[Any] = []
    expected_version: int | None = None


def publish_process_definition(cmd: PublishProcessDefinition, ctx: CommandContext) -> Recorded:
    spec = {
        "name": cmd.name,
        "fields": cmd.fields,
        "stages": cmd.stages,
        "transitions": cmd.transitions,
    }
    definition_id = ProcessDefinition.create_id(ctx.tenant_id, cmd.key)
    existing = ctx.store.find(ProcessDefinition, definition_id)
    if existing is None:
        definition = ProcessDefinition.publish_first(ctx.tenant_id, cmd.key, cmd.description, spec)
        ctx.reserve(definition_id, f"process definition {cmd.key!r}", ("key",))
        return ctx.save(definition)
    definition = ctx.load(ProcessDefinition, definition_id, cmd.expected_version, ("key",))
    definition.publish(cmd.description, spec)
    return ctx.save(definition)


class RetireProcessDefinition(Command):
    """Stop new processes from being opened from a definition (running ones go on)."""

    key: str
    expected_version: int | None = None


def retire_process_definition(cmd: RetireProcessDefinition, ctx: CommandContext) -> Recorded:
    definition_id = ProcessDefinition.create_id(ctx.tenant_id, cmd.key)
    definition = ctx.load(ProcessDefinition, definition_id, cmd.expected_version, ("key",))
    definition.retire()
    return ctx.save(definition)


SPECS: list[CommandSpec[Any]] = [
    CommandSpec(
        "publish-process-definition",
        PublishProcessDefinition,
        publish_process_definition,
        "schema:write",
    ),
    CommandSpec(
        "retire-process-definition",
        RetireProcessDefinition,
        retire_process_definition,
        "schema:write",
    ),
]

"""Process commands: open a case, move it through stages, staff it, close it."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from commands.context import CommandContext, Recorded
from commands.registry import Command, CommandSpec
from domain.entity import Entity
from domain.participant import Participant
from domain.process import Process


class OpenProcess(Command):
    """Open a process of a kind with its stages; it starts in the first stage."""

    kind: str
    title: str
    stages: list[str]
    due_at: datetime | None = None
    data: dict[str, Any] = {}


def open_process(cmd: OpenProcess, ctx: CommandContext) -> Recorded:
    process = Process.open(ctx.tenant_id, cmd.kind, cmd.title, cmd.stages, cmd.due_at, cmd.data)
    return ctx.save(process)


class EnterStage(Command):
    """Move a process to one of its stages."""

    process_id: UUID
    stage: str
    expected_version: int | None = None


def enter_stage(cmd: EnterStage, ctx: CommandContext) -> Recorded:
    process = ctx.load(Process, cmd.process_id, cmd.expected_version, ("process_id",))
    process.enter_stage(cmd.stage)
    return ctx.save(process)


class AssignParticipant(Command):
    """Give a participant a role in a process (assigning again changes the role)."""

    process_id: UUID
    participant_id: UUID
    role: str
    expected_version: int | None = None


def assign_participant(cmd: AssignParticipant, ctx: CommandContext) -> Recorded:
    process = ctx.load(Process, cmd.process_id, cmd.expected_version, ("process_id",))
    ctx.load(Participant, cmd.participant_id, path=("participant_id",))
    process.assign(cmd.participant_id, cmd.role)
    return ctx.save(process)


class UnassignParticipant(Command):
    """Take a participant off a process."""

    process_id: UUID
    participant_id: UUID
    expected_version: int | None = None


def unassign_participant(cmd: UnassignParticipant, ctx: CommandContext) -> Recorded:
    process = ctx.load(Process, cmd.process_id, cmd.expected_version, ("process_id",))
    process.unassign(cmd.participant_id)
    return ctx.save(process)


class LinkProcessEntity(Command):
    """Link an entity to a process."""

    process_id: UUID
    entity_id: UUID
    expected_version: int | None = None


def link_process_entity(cmd: LinkProcessEntity, ctx: CommandContext) -> Recorded:
    process = ctx.load(Process, cmd.process_id, cmd.expected_version, ("process_id",))
    ctx.load(Entity, cmd.entity_id, path=("entity_id",))
    process.link_entity(cmd.entity_id)
    return ctx.save(process)


class SetProcessDue(Command):
    """Set or clear the due date of a process."""

    process_id: UUID
    due_at: datetime | None
    expected_version: int | None = None


def set_process_due(cmd: SetProcessDue, ctx: CommandContext) -> Recorded:
    process = ctx.load(Process, cmd.process_id, cmd.expected_version, ("process_id",))
    process.set_due(cmd.due_at)
    return ctx.save(process)


class CloseProcess(Command):
    """Close a process with an outcome; a closed process accepts no more changes."""

    process_id: UUID
    outcome: str
    expected_version: int | None = None


def close_process(cmd: CloseProcess, ctx: CommandContext) -> Recorded:
    process = ctx.load(Process, cmd.process_id, cmd.expected_version, ("process_id",))
    process.close(cmd.outcome)
    return ctx.save(process)


class ReopenProcess(Command):
    """Open a closed process again, in the stage it was closed in, saying why."""

    process_id: UUID
    reason: str
    expected_version: int | None = None


def reopen_process(cmd: ReopenProcess, ctx: CommandContext) -> Recorded:
    process = ctx.load(Process, cmd.process_id, cmd.expected_version, ("process_id",))
    process.reopen(cmd.reason)
    return ctx.save(process)


SPECS: list[CommandSpec[Any]] = [
    CommandSpec("open-process", OpenProcess, open_process, "data:write"),
    CommandSpec("enter-stage", EnterStage, enter_stage, "data:write"),
    CommandSpec("assign-participant", AssignParticipant, assign_participant, "data:write"),
    CommandSpec("unassign-participant", UnassignParticipant, unassign_participant, "data:write"),
    CommandSpec("link-process-entity", LinkProcessEntity, link_process_entity, "data:write"),
    CommandSpec("set-process-due", SetProcessDue, set_process_due, "data:write"),
    CommandSpec("close-process", CloseProcess, close_process, "data:write"),
    CommandSpec("reopen-process", ReopenProcess, reopen_process, "data:write"),
]

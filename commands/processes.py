"""Process commands: open a case, move it through stages (free ones, or by a definition's
transitions and approvals), keep its data, staff it, close it."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID
from weakref import WeakKeyDictionary

from commands.context import CommandContext, Recorded
from commands.registry import Command, CommandSpec
from domain.calendar import BusinessCalendar
from domain.entity import Entity
from domain.entity_type import EntityType
from domain.errors import Conflict, InvalidInput, NotFound
from domain.participant import Participant
from domain.process import Process
from domain.process_definition import ProcessDefinition
from domain.workflow import Clock, Workflow
from eventstore import EventStore


class OpenProcess(Command):
    """Open a process: of a published definition (`definition`, at its latest version unless
    `version` says which), or of a kind with free stages; it starts in the first stage."""

    definition: str | None = None
    version: int | None = None
    kind: str | None = None
    title: str
    stages: list[str] | None = None
    due_at: datetime | None = None
    data: dict[str, Any] = {}


def open_process(cmd: OpenProcess, ctx: CommandContext) -> Recorded:
    if cmd.definition is None:
        if cmd.kind is None or cmd.stages is None:
            raise InvalidInput("name a definition, or a kind and its stages", ("definition",))
        process = Process.open(ctx.tenant_id, cmd.kind, cmd.title, cmd.stages, cmd.due_at, cmd.data)
        return ctx.save(process)
    for given in ("kind", "stages"):
        if getattr(cmd, given) is not None:
            raise InvalidInput(f"a definition gives the {given}; leave it out", (given,))
    definition = _definition(ctx, cmd.definition)
    if definition.retired:
        raise Conflict(f"definition {cmd.definition!r} is retired", ("definition",))
    version = definition.latest if cmd.version is None else cmd.version
    workflow = definition.workflow(version)
    process = Process.open_defined(
        ctx.tenant_id,
        definition.key,
        version,
        workflow,
        _clock(ctx),
        cmd.title,
        cmd.due_at,
        cmd.data,
    )
    return ctx.save(process)


class EnterStage(Command):
    """Move a process with free stages to one of them."""

    process_id: UUID
    stage: str
    expected_version: int | None = None


def enter_stage(cmd: EnterStage, ctx: CommandContext) -> Recorded:
    process = ctx.load(Process, cmd.process_id, cmd.expected_version, ("process_id",))
    process.enter_stage(cmd.stage)
    return ctx.save(process)


class MoveProcess(Command):
    """Take a transition of the process's definition. Refused with 409 when the process is no
    longer in a stage the transition leaves, 403 when the caller's roles may not take it, and
    422 when a required field is unset, approvals are missing or the guard is false (with the
    guard's trace)."""

    process_id: UUID
    transition: str
    expected_version: int | None = None


def move_process(cmd: MoveProcess, ctx: CommandContext) -> Recorded:
    process = ctx.load(Process, cmd.process_id, cmd.expected_version, ("process_id",))
    workflow = _pinned(ctx, process)
    entities = [_entity_view(ctx, entity_id) for entity_id in process.entity_ids]
    process.move(workflow, cmd.transition, ctx.actor, process.case(entities), _clock(ctx))
    return ctx.save(process)


class SetProcessData(Command):
    """Set some of a process's data (null clears a field); a definition's fields check it."""

    process_id: UUID
    data: dict[str, Any]
    expected_version: int | None = None


def set_process_data(cmd: SetProcessData, ctx: CommandContext) -> Recorded:
    process = ctx.load(Process, cmd.process_id, cmd.expected_version, ("process_id",))
    workflow = _pinned(ctx, process) if process.definition_key is not None else None
    process.set_data(workflow, cmd.data)
    return ctx.save(process)


class ApproveProcess(Command):
    """Approve the process's current stage (its definition says who may, and how many must)."""

    process_id: UUID
    expected_version: int | None = None


def approve_process(cmd: ApproveProcess, ctx: CommandContext) -> Recorded:
    process = ctx.load(Process, cmd.process_id, cmd.expected_version, ("process_id",))
    process.approve(_pinned(ctx, process), ctx.actor, _clock(ctx))
    return ctx.save(process)


class RejectProcess(Command):
    """Reject the process's current stage: it goes back to the stage its approval names."""

    process_id: UUID
    reason: str
    expected_version: int | None = None


def reject_process(cmd: RejectProcess, ctx: CommandContext) -> Recorded:
    process = ctx.load(Process, cmd.process_id, cmd.expected_version, ("process_id",))
    process.reject(_pinned(ctx, process), ctx.actor, cmd.reason, _clock(ctx))
    return ctx.save(process)


class MigrateProcess(Command):
    """Move a process to another version of its definition (the latest unless `version` says
    which); `mapping` names the new stage of each stage the target version lacks."""

    process_id: UUID
    version: int | None = None
    mapping: dict[str, str] = {}
    expected_version: int | None = None


def migrate_process(cmd: MigrateProcess, ctx: CommandContext) -> Recorded:
    process = ctx.load(Process, cmd.process_id, cmd.expected_version, ("process_id",))
    if process.definition_key is None:
        raise InvalidInput("this process has free stages (no definition)", ("process_id",))
    definition = _definition(ctx, process.definition_key)
    version = definition.latest if cmd.version is None else cmd.version
    current = definition.workflow(process.definition_version)
    process.migrate(current, definition.workflow(version), version, cmd.mapping, _clock(ctx))
    return ctx.save(process)


def _clock(ctx: CommandContext) -> Clock:
    """Now, and the tenant's business calendar (its timezone, working hours and holidays)."""
    return Clock(ctx.clock(), BusinessCalendar.of(ctx.tenant().settings))


def _definition(ctx: CommandContext, key: str) -> ProcessDefinition:
    found = ctx.store.find(ProcessDefinition, ProcessDefinition.create_id(ctx.tenant_id, key))
    if found is None or found.tenant_id != ctx.tenant_id:
        raise NotFound(f"no process definition {key!r}", ("definition",))
    return found


def _pinned(ctx: CommandContext, process: Process) -> Workflow:
    """The version of its definition the process follows. A published version never changes,
    so each is loaded once per process (by tenant, key and version)."""
    if process.definition_key is None or process.definition_version is None:
        raise InvalidInput(
            "this process has free stages (no definition): use enter-stage", ("process_id",)
        )
    pinned = (ctx.tenant_id, process.definition_key, process.definition_version)
    known = _PINNED.setdefault(ctx.store, {})
    found = known.get(pinned)
    if found is None:
        found = _definition(ctx, pinned[1]).workflow(pinned[2])
        if len(known) >= 4_096:
            known.clear()
        known[pinned] = found
    return found


_PINNED: WeakKeyDictionary[EventStore, dict[tuple[UUID, str, int], Workflow]] = WeakKeyDictionary()
"""Per store (a test's in-memory store is another world), the versions loaded."""


def _entity_view(ctx: CommandContext, entity_id: UUID) -> dict[str, Any]:
    """A linked entity as a guard sees it (personal fields are not given to guards)."""
    entity = ctx.load(Entity, entity_id, path=("process_id",))
    entity_type = ctx.load(EntityType, entity.entity_type_id, path=("process_id",))
    personal = {spec.name for spec in entity_type.fields if spec.personal}
    data = {k: v for k, v in entity.data.items() if k not in personal}
    return {"type": entity_type.name, "data": data}


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
    CommandSpec("move-process", MoveProcess, move_process, "data:write"),
    CommandSpec("set-process-data", SetProcessData, set_process_data, "data:write"),
    CommandSpec("approve-process", ApproveProcess, approve_process, "data:write"),
    CommandSpec("reject-process", RejectProcess, reject_process, "data:write"),
    CommandSpec("migrate-process", MigrateProcess, migrate_process, "data:write"),
    CommandSpec("assign-participant", AssignParticipant, assign_participant, "data:write"),
    CommandSpec("unassign-participant", UnassignParticipant, unassign_participant, "data:write"),
    CommandSpec("link-process-entity", LinkProcessEntity, link_process_entity, "data:write"),
    CommandSpec("set-process-due", SetProcessDue, set_process_due, "data:write"),
    CommandSpec("close-process", CloseProcess, close_process, "data:write"),
    CommandSpec("reopen-process", ReopenProcess, reopen_process, "data:write"),
]

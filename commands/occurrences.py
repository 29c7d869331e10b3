"""Occurrence commands: what happened, when, where, and to what."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from commands.context import CommandContext, Recorded
from commands.occurrence_kinds import occurrence_kind_named
from commands.registry import Command, CommandSpec
from domain.entity import Entity
from domain.fields import unique_values
from domain.occurrence import Occurrence
from domain.occurrence_kind import OccurrenceKind
from domain.participant import Participant
from domain.process import Process


class RecordOccurrence(Command):
    """Record a real-world occurrence (incident, visit, payment...)."""

    kind: str
    occurred_at: datetime
    data: dict[str, Any] = {}
    location: dict[str, Any] | None = None
    process_id: UUID | None = None
    entity_ids: list[UUID] = []
    participant_ids: list[UUID] = []


def record_occurrence(cmd: RecordOccurrence, ctx: CommandContext) -> Recorded:
    if cmd.process_id is not None:
        ctx.load(Process, cmd.process_id, path=("process_id",))
    for i, entity_id in enumerate(cmd.entity_ids):
        ctx.load(Entity, entity_id, path=("entity_ids", i))
    for i, participant_id in enumerate(cmd.participant_ids):
        ctx.load(Participant, participant_id, path=("participant_ids", i))
    kind = occurrence_kind_named(ctx, cmd.kind) if cmd.kind.strip() else None
    occurrence = Occurrence.record(
        ctx.tenant_id,
        cmd.kind,
        cmd.occurred_at,
        kind.validated(cmd.data) if kind is not None else cmd.data,
        cmd.location,
        cmd.process_id,
        cmd.entity_ids,
        cmd.participant_ids,
    )
    if kind is None:
        return ctx.save(occurrence)
    ctx.check_references(kind.fields, occurrence.data)
    claims = [
        ctx.claim(_scope(kind, name), value, occurrence.id, ("data", name))
        for name, value in unique_values(kind.fields, occurrence.data).items()
    ]
    return ctx.save(occurrence, *claims)


class RetractOccurrence(Command):
    """Mark an occurrence as recorded in error, with a reason (history is kept)."""

    occurrence_id: UUID
    reason: str
    expected_version: int | None = None


def retract_occurrence(cmd: RetractOccurrence, ctx: CommandContext) -> Recorded:
    """An occurrence recorded in error frees the unique values it claimed."""
    occurrence = ctx.load(Occurrence, cmd.occurrence_id, cmd.expected_version, ("occurrence_id",))
    occurrence.retract(cmd.reason)
    kind = occurrence_kind_named(ctx, occurrence.kind) if occurrence.kind.strip() else None
    if kind is None:
        return ctx.save(occurrence)
    released = [
        ctx.release(_scope(kind, name), value)
        for name, value in unique_values(kind.fields, occurrence.data).items()
    ]
    return ctx.save(occurrence, *released)


def _scope(kind: OccurrenceKind, field: str) -> str:
    return f"{kind.id}:{field}"


SPECS: list[CommandSpec[Any]] = [
    CommandSpec("record-occurrence", RecordOccurrence, record_occurrence, "data:write"),
    CommandSpec("retract-occurrence", RetractOccurrence, retract_occurrence, "data:write"),
]

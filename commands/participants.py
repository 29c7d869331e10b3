"""Participant commands."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from commands.context import CommandContext, Recorded
from commands.registry import Command, CommandSpec
from domain.participant import Participant


class RegisterParticipant(Command):
    """Register a person or system that takes part in processes."""

    name: str
    kind: str = "person"
    email: str | None = None
    phone: str | None = None
    external_ref: str | None = None


def register_participant(cmd: RegisterParticipant, ctx: CommandContext) -> Recorded:
    participant = Participant.register(
        ctx.tenant_id, cmd.name, cmd.kind, cmd.email, cmd.phone, cmd.external_ref
    )
    return ctx.save(participant)


class UpdateParticipant(Command):
    """Change name or contact details; a null clears a contact detail."""

    participant_id: UUID
    changes: dict[str, Any]
    expected_version: int | None = None


def update_participant(cmd: UpdateParticipant, ctx: CommandContext) -> Recorded:
    participant = ctx.load(
        Participant, cmd.participant_id, cmd.expected_version, ("participant_id",)
    )
    participant.update(cmd.changes)
    return ctx.save(participant)


class ForgetParticipant(Command):
    """Erase a participant's personal data (name, email, phone) everywhere, for good: the key
    their values were sealed under is destroyed. Forgetting again changes nothing."""

    participant_id: UUID


def forget_participant(cmd: ForgetParticipant, ctx: CommandContext) -> Recorded:
    participant = ctx.load(Participant, cmd.participant_id, path=("participant_id",))
    if not participant.forgotten:
        # The key goes first: should the event then fail to store, the data is erased all
        # the same and the command, retried, records it; the other order could leave a
        # recorded erasure whose key survived.
        ctx.store.forget(ctx.tenant_id, participant.id)
        participant.forget()
    return ctx.save(participant)


SPECS: list[CommandSpec[Any]] = [
    CommandSpec("register-participant", RegisterParticipant, register_participant, "data:write"),
    CommandSpec("update-participant", UpdateParticipant, update_participant, "data:write"),
    CommandSpec("forget-participant", ForgetParticipant, forget_participant, "data:erase"),
]

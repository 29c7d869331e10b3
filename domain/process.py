"""Process: a tracked workflow case moving through configurable stages."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, InvalidInput
from domain.names import clean_name


class Process(Aggregate):
    @event("Opened")
    def __init__(
        self,
        tenant_id: UUID,
        kind: str,
        title: str,
        stages: list[str],
        due_at: datetime | None,
        data: dict[str, Any],
    ) -> None:
        self.tenant_id = tenant_id
        self.kind = kind
        self.title = title
        self.stages = stages
        self.stage = stages[0]
        self.due_at = due_at
        self.data = data
        self.status = "open"
        self.outcome: str | None = None
        self.participants: dict[str, str] = {}
        self.entity_ids: list[UUID] = []
        self.closed_at: datetime | None = None

    @classmethod
    def open(
        cls,
        tenant_id: UUID,
        kind: str,
        title: str,
        stages: list[str],
        due_at: datetime | None = None,
        data: dict[str, Any] | None = None,
    ) -> Process:
        stages = [clean_name(s, ("stages", i), 63) for i, s in enumerate(stages)]
        if not stages:
            raise InvalidInput("a process needs at least one stage", ("stages",))
        if len(set(stages)) != len(stages):
            raise InvalidInput("stage names must be distinct", ("stages",))
        _check_due(due_at)
        return cls(
            tenant_id=tenant_id,
            kind=clean_name(kind, ("kind",), 63),
            title=clean_name(title, ("title",)),
            stages=stages,
            due_at=due_at,
            data=data or {},
        )

    def enter_stage(self, stage: str) -> None:
        self._require_open()
        if stage not in self.stages:
            raise InvalidInput(f"unknown stage; stages are {', '.join(self.stages)}", ("stage",))
        if stage != self.stage:
            self._stage_entered(stage, self.stage)

    @event("StageEntered")
    def _stage_entered(self, stage: str, previous: str) -> None:
        self.stage = stage

    def assign(self, participant_id: UUID, role: str) -> None:
        self._require_open()
        role = clean_name(role, ("role",), 63)
        if self.participants.get(str(participant_id)) != role:
            self._participant_assigned(participant_id, role)

    @event("ParticipantAssigned")
    def _participant_assigned(self, participant_id: UUID, role: str) -> None:
        self.participants = {**self.participants, str(participant_id): role}

    def unassign(self, participant_id: UUID) -> None:
        if str(participant_id) not in self.participants:
            raise InvalidInput("participant is not assigned", ("participant_id",))
        self._participant_unassigned(participant_id)

    @event("ParticipantUnassigned")
    def _participant_unassigned(self, participant_id: UUID) -> None:
        self.participants = {k: v for k, v in self.participants.items() if k != str(participant_id)}

    def link_entity(self, entity_id: UUID) -> None:
        if entity_id not in self.entity_ids:
            self._entity_linked(entity_id)

    @event("EntityLinked")
    def _entity_linked(self, entity_id: UUID) -> None:
        self.entity_ids = [*self.entity_ids, entity_id]

    def set_due(self, due_at: datetime | None) -> None:
        self._require_open()
        _check_due(due_at)
        if due_at != self.due_at:
            self._due_set(due_at)

    @event("DueSet")
    def _due_set(self, due_at: datetime | None) -> None:
        self.due_at = due_at

    class Closed(Aggregate.Event):
        # Not a decorated method: applying it needs the event's own time (the case's closing
        # time, shown by past states), which a decorated method's body is not given.
        outcome: str

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Process)
            aggregate.status = "closed"
            aggregate.outcome = self.outcome
            aggregate.closed_at = self.timestamp

    def close(self, outcome: str) -> None:
        self._require_open()
        self.trigger_event(self.Closed, outcome=clean_name(outcome, ("outcome",), 200))

    def reopen(self, reason: str) -> None:
        """A case closed too early is open again, in the stage it was closed in."""
        if self.status == "open":
            raise Conflict("process is open")
        self._reopened(clean_name(reason, ("reason",), 500))

    @event("Reopened")
    def _reopened(self, reason: str) -> None:
        self.status = "open"
        self.outcome = None
        self.closed_at = None

    def _require_open(self) -> None:
        if self.status != "open":
            raise Conflict("process is closed")


def _check_due(due_at: datetime | None) -> None:
    if due_at is not None and due_at.tzinfo is None:
        raise InvalidInput("must include a timezone offset", ("due_at",))

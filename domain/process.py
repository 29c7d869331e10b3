"""Process: a tracked workflow case moving through stages: free ones, or a definition's.

A case opened from a definition pins its version and moves only by that version's transitions
(`move`), approvals and rejections; one opened with free stages enters any of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, DomainError, InvalidInput
from domain.fields import DataInvalid, FieldError, validate_data
from domain.names import clean_name
from domain.workflow import Actor, Blocker, Case, GuardFailed, NotPermitted, Workflow


class Process(Aggregate):
    class Opened(Aggregate.Created):
        """v1 had no definition (v2: the definition's key and the version the case pins)."""

        class_version = 2
        tenant_id: UUID
        kind: str
        title: str
        stages: list[str]
        due_at: datetime | None
        data: dict[str, Any]
        definition_key: str | None
        definition_version: int | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["definition_key"] = None
            state["definition_version"] = None

    # Class defaults serve snapshots taken before processes had definitions and approvals.
    definition_key: str | None = None
    definition_version: int | None = None
    approvals: tuple[str, ...] = ()
    """The actors who approved the current stage, in order."""
    stage_entered_at: datetime | None = None

    @event(Opened)
    def __init__(
        self,
        tenant_id: UUID,
        kind: str,
        title: str,
        stages: list[str],
        due_at: datetime | None,
        data: dict[str, Any],
        definition_key: str | None,
        definition_version: int | None,
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
        self.definition_key = definition_key
        self.definition_version = definition_version
        self.approvals = ()

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
        """A case with free stages: any of them can be entered from any other."""
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
            definition_key=None,
            definition_version=None,
        )

    @classmethod
    def open_defined(
        cls,
        tenant_id: UUID,
        key: str,
        version: int,
        workflow: Workflow,
        title: str,
        due_at: datetime | None = None,
        data: dict[str, Any] | None = None,
    ) -> Process:
        """A case of a definition's version, in its first stage."""
        _check_due(due_at)
        return cls(
            tenant_id=tenant_id,
            kind=key,
            title=clean_name(title, ("title",)),
            stages=workflow.stage_names,
            due_at=due_at,
            data=_validated(workflow, data or {}, partial=False),
            definition_key=key,
            definition_version=version,
        )

    def case(self, entities: Sequence[Mapping[str, Any]] = ()) -> Case:
        """The case as its workflow sees it (`entities`: its linked entities' type and data)."""
        return Case(
            kind=self.kind,
            title=self.title,
            stage=self.stage,
            status=self.status,
            data=self.data,
            participants=self.participants,
            approvals=self.approvals,
            due_at=self.due_at,
            opened_at=self.created_on,
            stage_entered_at=self.stage_entered_at or self.created_on,
            entities=entities,
        )

    class StageEntered(Aggregate.Event):
        """v1 had no `transition` (v2: the transition taken; None for a free stage, and for
        the moves of approvals, rejections and migrations)."""

        class_version = 2
        stage: str
        previous: str
        transition: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["transition"] = None

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Process)
            aggregate.stage = self.stage
            aggregate.approvals = ()
            aggregate.stage_entered_at = self.timestamp

    def enter_stage(self, stage: str) -> None:
        self._require_open()
        if self.definition_key is not None:
            raise InvalidInput(
                f"this process follows definition {self.definition_key!r} "
                f"(version {self.definition_version}): take a transition with move-process",
                ("stage",),
            )
        if stage not in self.stages:
            raise InvalidInput(f"unknown stage; stages are {', '.join(self.stages)}", ("stage",))
        if stage != self.stage:
            self._enter(stage, None)

    def move(
        self,
        workflow: Workflow,
        transition: str,
        actor: Actor,
        case: Case,
        now: datetime,
        timezone: str,
    ) -> None:
        """Take a transition of the pinned version: refused for the first reason it may not
        be taken (`case` is this case with its linked entities, as the guard sees it)."""
        self._require_defined()
        taken = workflow.transition(transition)
        blockers = workflow.blockers(case, taken, actor, now, timezone)
        if blockers:
            raise refusal(blockers[0])
        self._enter(taken.target, taken.name)

    def _enter(self, stage: str, transition: str | None) -> None:
        self.trigger_event(
            self.StageEntered, stage=stage, previous=self.stage, transition=transition
        )

    def set_data(self, workflow: Workflow | None, changes: Mapping[str, Any]) -> None:
        """Set (or, with null, clear) some of the case's data; a definition's fields check it."""
        self._require_open()
        if workflow is not None:
            changes = _validated(workflow, changes, partial=True)
        changed = {
            key: value
            for key, value in changes.items()
            if (value is None and key in self.data)
            or (value is not None and self.data.get(key) != value)
        }
        if changed:
            self._data_set(changed)

    @event("DataSet")
    def _data_set(self, changes: dict[str, Any]) -> None:
        merged = {**self.data, **changes}
        self.data = {key: value for key, value in merged.items() if value is not None}

    def approve(self, workflow: Workflow, actor: Actor) -> None:
        """One approval of the current stage; the last one needed may move the case on."""
        self._require_defined()
        approval = workflow.may_approve(self.case(), actor)
        if actor.actor in self.approvals:
            raise Conflict(f"{actor.actor!r} approved stage {self.stage!r} already")
        self._approved(actor.actor, self.stage)
        if len(self.approvals) >= approval.count and approval.approved_to is not None:
            self._enter(approval.approved_to, None)

    @event("Approved")
    def _approved(self, actor: str, stage: str) -> None:
        self.approvals = (*self.approvals, actor)

    def reject(self, workflow: Workflow, actor: Actor, reason: str) -> None:
        """Send the case back to the stage its approval names, saying why."""
        self._require_defined()
        approval = workflow.may_approve(self.case(), actor)
        self._rejected(actor.actor, self.stage, clean_name(reason, ("reason",), 500))
        self._enter(approval.rejected_to, None)

    @event("Rejected")
    def _rejected(self, actor: str, stage: str, reason: str) -> None:
        pass  # what follows (the stage entered) changes the case

    def migrate(
        self, current: Workflow, target: Workflow, version: int, mapping: Mapping[str, str]
    ) -> None:
        """Move the case to another version of its definition. Every stage of its own version
        must have a place in the target: a stage of the same name, or the one `mapping` names."""
        self._require_defined()
        if version == self.definition_version:
            raise Conflict(f"the process is at version {version} already", ("version",))
        names = target.stage_names
        errors = [
            FieldError(
                ("mapping", old),
                f"no stage of version {version} for {old!r}; map it to one of {', '.join(names)}",
            )
            for old in current.stage_names
            if mapping.get(old, old) not in names
        ]
        errors += [
            FieldError(
                ("mapping", old), f"{old!r} is not a stage of version {self.definition_version}"
            )
            for old in mapping
            if old not in current.stage_names
        ]
        known = {spec.name for spec in target.fields}
        errors += [
            FieldError(
                ("data", key),
                f"not a field of version {version}: clear it with set-process-data first",
            )
            for key in self.data
            if key not in known
        ]
        if errors:
            raise DataInvalid(errors)
        _validated(target, self.data, partial=True)
        stage = mapping.get(self.stage, self.stage)
        self._migrated(self.definition_version, version, names, stage, self.stage)

    @event("Migrated")
    def _migrated(
        self, from_version: int | None, version: int, stages: list[str], stage: str, previous: str
    ) -> None:
        self.definition_version = version
        self.stages = stages
        if stage != previous:
            self.stage = stage
            self.approvals = ()

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

    def _require_defined(self) -> None:
        self._require_open()
        if self.definition_key is None:
            raise InvalidInput(
                "this process has free stages (no definition): use enter-stage", ("process_id",)
            )


def refusal(blocker: Blocker) -> DomainError:
    """The refusal a command gives for the first reason a transition cannot be taken."""
    if blocker.reason == "guard" and blocker.explanation is not None:
        return GuardFailed("the transition's guard is false", blocker.explanation, ("transition",))
    if blocker.reason == "role":
        return NotPermitted(blocker.message, ("transition",))
    if blocker.reason in ("stage", "closed"):
        return Conflict(blocker.message, ("transition",))
    return InvalidInput(blocker.message, ("transition",))


def _validated(workflow: Workflow, data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    try:
        return dict(validate_data(workflow.fields, data, partial=partial))
    except DataInvalid as invalid:
        errors = [FieldError(("data", *e.path), e.message) for e in invalid.errors]
        raise DataInvalid(errors) from None


def _check_due(due_at: datetime | None) -> None:
    if due_at is not None and due_at.tzinfo is None:
        raise InvalidInput("must include a timezone offset", ("due_at",))

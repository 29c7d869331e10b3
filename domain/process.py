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
from domain.workflow import (
    Actor,
    Blocker,
    Case,
    Clock,
    GuardFailed,
    NotPermitted,
    SlaTimers,
    Workflow,
)


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
        sla_due_at: datetime | None
        sla_reminders: list[dict[str, Any]]
        entered_at: datetime | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["definition_key"] = None
            state["definition_version"] = None
            state["sla_due_at"] = None
            state["sla_reminders"] = []
            state["entered_at"] = None

    # Class defaults serve snapshots taken before processes had definitions and approvals.
    definition_key: str | None = None
    definition_version: int | None = None
    approvals: tuple[str, ...] = ()
    """The actors who approved the current stage, in order."""
    stage_entered_at: datetime | None = None
    sla_due_at: datetime | None = None
    """When the current stage's SLA is breached (None: the stage has none)."""
    sla_reminders: tuple[dict[str, Any], ...] = ()
    """The current stage's reminders not yet due: `{"fraction": 0.8, "at": <ISO instant>}`."""
    sla_breached: bool = False

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
        sla_due_at: datetime | None,
        sla_reminders: list[dict[str, Any]],
        entered_at: datetime | None,
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
        self.sla_due_at = sla_due_at
        self.sla_reminders = tuple(sla_reminders)
        self.sla_breached = False
        self.stage_entered_at = entered_at

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
            sla_due_at=None,
            sla_reminders=[],
            entered_at=None,
        )

    @classmethod
    def open_defined(
        cls,
        tenant_id: UUID,
        key: str,
        version: int,
        workflow: Workflow,
        clock: Clock,
        title: str,
        due_at: datetime | None = None,
        data: dict[str, Any] | None = None,
    ) -> Process:
        """A case of a definition's version, in its first stage."""
        _check_due(due_at)
        timers = clock.timers(workflow.stages[0])
        return cls(
            tenant_id=tenant_id,
            kind=key,
            title=clean_name(title, ("title",)),
            stages=workflow.stage_names,
            due_at=due_at,
            data=_validated(workflow, data or {}, partial=False),
            definition_key=key,
            definition_version=version,
            entered_at=clock.now,
            **_timers_of(timers),
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
        sla_due_at: datetime | None
        sla_reminders: list[dict[str, Any]]
        entered_at: datetime | None
        """When the stage was entered by the command's clock (None: when it was stored)."""

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["transition"] = None
            state["sla_due_at"] = None
            state["sla_reminders"] = []
            state["entered_at"] = None

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Process)
            aggregate.stage = self.stage
            aggregate.approvals = ()
            aggregate.stage_entered_at = self.entered_at or self.timestamp
            aggregate.sla_due_at = self.sla_due_at
            aggregate.sla_reminders = tuple(self.sla_reminders)
            aggregate.sla_breached = False

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
        self, workflow: Workflow, transition: str, actor: Actor, case: Case, clock: Clock
    ) -> None:
        """Take a transition of the pinned version: refused for the first reason it may not
        be taken (`case` is this case with its linked entities, as the guard sees it)."""
        self._require_defined()
        taken = workflow.transition(transition)
        blockers = workflow.blockers(case, taken, actor, clock.now, clock.timezone)
        if blockers:
            raise refusal(blockers[0])
        self._enter(taken.target, taken.name, workflow, clock)

    def _enter(
        self,
        stage: str,
        transition: str | None,
        workflow: Workflow | None = None,
        clock: Clock | None = None,
    ) -> None:
        """Enter `stage`; a definition's stage starts its SLA timers by `clock`."""
        timers = clock.timers(workflow.stage(stage)) if workflow and clock else None
        self.trigger_event(
            self.StageEntered,
            stage=stage,
            previous=self.stage,
            transition=transition,
            entered_at=clock.now if clock else None,
            **_timers_of(timers),
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

    def approve(self, workflow: Workflow, actor: Actor, clock: Clock) -> None:
        """One approval of the current stage; the last one needed may move the case on."""
        self._require_defined()
        approval = workflow.may_approve(self.case(), actor)
        if actor.actor in self.approvals:
            raise Conflict(f"{actor.actor!r} approved stage {self.stage!r} already")
        self._approved(actor.actor, self.stage)
        target = approval.approved_to
        if len(self.approvals) >= approval.count and target is not None:
            self._enter(target, None, workflow, clock)

    @event("Approved")
    def _approved(self, actor: str, stage: str) -> None:
        self.approvals = (*self.approvals, actor)

    def reject(self, workflow: Workflow, actor: Actor, reason: str, clock: Clock) -> None:
        """Send the case back to the stage its approval names, saying why."""
        self._require_defined()
        approval = workflow.may_approve(self.case(), actor)
        self._rejected(actor.actor, self.stage, clean_name(reason, ("reason",), 500))
        self._enter(approval.rejected_to, None, workflow, clock)

    @event("Rejected")
    def _rejected(self, actor: str, stage: str, reason: str) -> None:
        pass  # what follows (the stage entered) changes the case

    def migrate(
        self,
        current: Workflow,
        target: Workflow,
        version: int,
        mapping: Mapping[str, str],
        clock: Clock,
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
        # The SLA of the version it now follows: from now for a new stage, else from the
        # stage's entry (a breach already recorded stays recorded).
        entered = None if stage != self.stage else self.stage_entered_at
        timers = clock.timers(target.stage(stage), entered)
        self.trigger_event(
            self.Migrated,
            from_version=self.definition_version,
            version=version,
            stages=names,
            stage=stage,
            previous=self.stage,
            entered_at=clock.now,
            **_timers_of(timers),
        )

    class Migrated(Aggregate.Event):
        from_version: int | None
        version: int
        stages: list[str]
        stage: str
        previous: str
        sla_due_at: datetime | None
        sla_reminders: list[dict[str, Any]]
        entered_at: datetime | None

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Process)
            aggregate.definition_version = self.version
            aggregate.stages = self.stages
            if self.stage != self.previous:
                aggregate.stage = self.stage
                aggregate.approvals = ()
                aggregate.stage_entered_at = self.entered_at or self.timestamp
                aggregate.sla_breached = False
            if not aggregate.sla_breached:
                aggregate.sla_due_at = self.sla_due_at
            aggregate.sla_reminders = tuple(
                r for r in self.sla_reminders if datetime.fromisoformat(r["at"]) > self.timestamp
            )

    @property
    def next_timer_at(self) -> datetime | None:
        """When the next SLA reminder or the breach falls due (None: nothing is pending)."""
        if self.status != "open":
            return None
        return _next_timer(self.sla_reminders, None if self.sla_breached else self.sla_due_at)

    def fire_timers(self, now: datetime) -> bool:
        """Record each SLA reminder and the breach that is due by `now`, once: a second call,
        or one for a visit the case has left, records nothing. Whether anything was due."""
        if self.status != "open":
            return False
        fired = False
        for reminder in self.sla_reminders:
            if datetime.fromisoformat(reminder["at"]) <= now:
                rest = tuple(r for r in self.sla_reminders if r is not reminder)
                following = _next_timer(rest, None if self.sla_breached else self.sla_due_at)
                self._reminded(
                    self.stage, reminder["fraction"], reminder["at"], self.sla_due_at, following
                )
                fired = True
        if self.sla_due_at is not None and not self.sla_breached and self.sla_due_at <= now:
            self._breached(self.stage, self.sla_due_at, _next_timer(self.sla_reminders, None))
            fired = True
        return fired

    # `next_at` (when the visit's next timer falls due after this one) is for the read model,
    # which finds due timers by it.
    @event("SlaReminded")
    def _reminded(
        self,
        stage: str,
        fraction: float,
        at: str,
        due_at: datetime | None,
        next_at: datetime | None,
    ) -> None:
        self.sla_reminders = tuple(r for r in self.sla_reminders if r["at"] != at)

    @event("SlaBreached")
    def _breached(self, stage: str, due_at: datetime, next_at: datetime | None) -> None:
        self.sla_breached = True

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


def _next_timer(reminders: Sequence[Mapping[str, Any]], due_at: datetime | None) -> datetime | None:
    pending = [datetime.fromisoformat(r["at"]) for r in reminders]
    return min([*pending, *([due_at] if due_at else [])], default=None)


def next_timer_of(event: Mapping[str, Any]) -> datetime | None:
    """When the first timer of a stage visit falls due, from its StageEntered's (or Opened's,
    Migrated's) data as stored."""
    due = event.get("sla_due_at")
    due_at = datetime.fromisoformat(due) if isinstance(due, str) else due
    return _next_timer(event.get("sla_reminders") or [], due_at)


def _timers_of(timers: SlaTimers | None) -> dict[str, Any]:
    return timers.to_event() if timers else {"sla_due_at": None, "sla_reminders": []}


def _validated(workflow: Workflow, data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    try:
        return dict(validate_data(workflow.fields, data, partial=partial))
    except DataInvalid as invalid:
        errors = [FieldError(("data", *e.path), e.message) for e in invalid.errors]
        raise DataInvalid(errors) from None


def _check_due(due_at: datetime | None) -> None:
    if due_at is not None and due_at.tzinfo is None:
        raise InvalidInput("must include a timezone offset", ("due_at",))

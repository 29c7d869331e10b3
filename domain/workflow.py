"""One version of a process definition: its typed data, stages and transitions, and what they
mean for a case (how a version is checked, stored and read back: `domain.workflow_spec`).

Whether a transition may be taken is answered here for the command side and the read side
alike (`Workflow.blockers`), so "why can't I move this case?" always gets the answer the command
would give.

    {"name": "Incident",
     "fields": [{"name": "severity", "type": "integer"}],
     "stages": ["new", {"name": "triage",
                        "sla": {"within": "PT4H", "business_hours": true, "remind_at": [0.8]}},
                {"name": "review", "approval": {"count": 2, "role": "reviewer",
                                                "rejected_to": "fixing", "approved_to": "closed"}}],
     "transitions": [{"name": "fix", "from": "triage", "to": "fixing",
                      "guard": {">=": [{"var": "data.severity"}, 3]},
                      "roles": ["lead"], "requires": ["severity"]}]}
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from domain.calendar import BusinessCalendar
from domain.errors import DomainError, InvalidInput
from domain.fields import (
    FieldSpec,
    VarType,
)
from domain.rules import Explanation, RuleInput, compile_rule, field_var_types

Path = tuple[str | int, ...]
KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
STAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _-]{0,62}$")
MAX_STAGES = 100
MAX_TRANSITIONS = 500

GUARD_VARIABLES: dict[str, VarType] = {
    "kind": "text",
    "title": "text",
    "stage": "text",
    "due_at": "datetime",
    "opened_at": "datetime",
    "stage_entered_at": "datetime",
    "entities": "list",
    "me.actor": "text",
    "me.roles": "list",
    "me.participant_id": "text",
    "me.process_role": "text",
}
"""What a guard may ask besides the definition's typed `data.<field>`: the case, its linked
entities (each `{"type": …, "data": {…}}`) and the actor taking the transition (`me.roles` are
its roles in the tenant, `me.process_role` its role among the case's participants)."""


class GuardFailed(InvalidInput):
    """A transition's guard is false: the refusal carries the guard's trace."""

    def __init__(self, message: str, explanation: Explanation, path: Path = ()) -> None:
        super().__init__(message, path)
        self.explanation = explanation


class NotPermitted(DomainError):
    """The actor may run the command but not this step of the workflow (403)."""


@dataclass(frozen=True, slots=True)
class Sla:
    within: timedelta
    business_hours: bool
    remind_at: tuple[float, ...] = ()
    """Fractions of the SLA (0.8: when 80 % of it has passed) at which a reminder is due."""


@dataclass(frozen=True, slots=True)
class SlaTimers:
    """A stage visit's deadline and reminders, fixed when the stage is entered."""

    due_at: datetime
    reminders: tuple[tuple[float, datetime], ...]
    """(fraction, instant), in order."""

    def to_event(self) -> dict[str, Any]:
        return {
            "sla_due_at": self.due_at,
            "sla_reminders": [{"fraction": f, "at": at.isoformat()} for f, at in self.reminders],
        }


@dataclass(frozen=True)
class Clock:
    """When a command acts, and the tenant's business calendar for SLAs."""

    now: datetime
    calendar: BusinessCalendar

    @property
    def timezone(self) -> str:
        return self.calendar.zone.key

    def timers(self, stage: Stage, entered: datetime | None = None) -> SlaTimers | None:
        """The SLA timers of a visit of `stage` entered at `entered` (now by default)."""
        sla = stage.sla
        if sla is None:
            return None
        start = entered or self.now

        def after(work: timedelta) -> datetime:
            return self.calendar.add(start, work) if sla.business_hours else start + work

        reminders = tuple((f, after(sla.within * f)) for f in sla.remind_at)
        return SlaTimers(after(sla.within), reminders)


@dataclass(frozen=True, slots=True)
class Approval:
    count: int
    role: str | None
    """Members holding this tenant role may approve…"""
    participant_role: str | None
    """…or the case's participants with this role."""
    rejected_to: str
    approved_to: str | None
    """Where the case goes once `count` approvals are in (None: it waits for a transition)."""


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    sla: Sla | None = None
    approval: Approval | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    name: str
    sources: tuple[str, ...]
    target: str
    guard: Any = None
    roles: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting, as a guard and an approval see it."""

    actor: str
    roles: frozenset[str]
    participant_id: str | None = None


@dataclass(frozen=True, slots=True)
class Case:
    """A process as the workflow needs it, from the aggregate or from its read-model row."""

    kind: str
    title: str
    stage: str
    status: str
    data: Mapping[str, Any]
    participants: Mapping[str, str]
    approvals: Sequence[str]
    due_at: datetime | None
    opened_at: datetime | None
    stage_entered_at: datetime | None
    entities: Sequence[Mapping[str, Any]] = ()


@dataclass(frozen=True, slots=True)
class Blocker:
    """Why a transition cannot be taken now."""

    reason: str
    message: str
    explanation: Explanation | None = None


@dataclass(frozen=True)
class Workflow:
    name: str
    fields: tuple[FieldSpec, ...]
    stages: tuple[Stage, ...]
    transitions: tuple[Transition, ...]

    @property
    def stage_names(self) -> list[str]:
        return [stage.name for stage in self.stages]

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def transition(self, name: str) -> Transition:
        found = next((t for t in self.transitions if t.name == name), None)
        if found is None:
            known = ", ".join(t.name for t in self.transitions) or "none"
            raise InvalidInput(
                f"unknown transition {name!r}; transitions: {known}", ("transition",)
            )
        return found

    def variables(self) -> dict[str, VarType]:
        return {**GUARD_VARIABLES, **field_var_types(self.fields)}

    def blockers(
        self, case: Case, transition: Transition, actor: Actor, now: datetime, timezone: str
    ) -> list[Blocker]:
        """Every reason the actor cannot take `transition` now (none: it can)."""
        found: list[Blocker] = []
        if case.status != "open":
            found.append(Blocker("closed", "the process is closed"))
        if case.stage not in transition.sources:
            found.append(
                Blocker(
                    "stage",
                    f"the process is in stage {case.stage!r}; {transition.name!r} leaves "
                    f"{' or '.join(repr(s) for s in transition.sources)}",
                )
            )
        if transition.roles and not actor.roles & set(transition.roles):
            found.append(
                Blocker("role", f"only {', '.join(transition.roles)} may take {transition.name!r}")
            )
        missing = [name for name in transition.requires if case.data.get(name) is None]
        if missing:
            found.append(Blocker("requires", f"set {', '.join(missing)} first"))
        approval = self.stage(case.stage).approval if case.stage in self.stage_names else None
        if approval is not None and case.stage in transition.sources:
            given = len(case.approvals)
            if given < approval.count:
                message = f"stage {case.stage!r} needs {approval.count} approval(s), has {given}"
                found.append(Blocker("approval", message))
        if transition.guard is not None:
            guard, inp = compile_rule(transition.guard), guard_input(case, actor, now, timezone)
            if not guard.evaluate(inp):  # traced only when it refuses: tracing costs more
                found.append(Blocker("guard", "the guard is false", guard.explain(inp)))
        return found

    def may_approve(self, case: Case, actor: Actor) -> Approval:
        """The stage's approval, if the actor may give it (else a refusal saying why)."""
        approval = self.stage(case.stage).approval
        if approval is None:
            raise InvalidInput(f"stage {case.stage!r} takes no approvals", ("process_id",))
        if approval.role is not None and approval.role in actor.roles:
            return approval
        held = case.participants.get(actor.participant_id) if actor.participant_id else None
        if approval.participant_role is not None and held == approval.participant_role:
            return approval
        who = (
            f"members with the role {approval.role!r}"
            if approval.role
            else f"participants of this process with the role {approval.participant_role!r}"
        )
        raise NotPermitted(f"only {who} may approve or reject in stage {case.stage!r}")


@dataclass(frozen=True, slots=True)
class SlaOutcome:
    stage: str
    visits: int
    breached: int
    ongoing: int


def sla_outcomes(
    workflow: Workflow, visits: Sequence[tuple[str, datetime, datetime | None]], clock: Clock
) -> list[SlaOutcome]:
    """Per stage of `workflow`, how many of the past `visits` (stage, entered, left; None:
    not left yet, judged at `clock.now`) would have breached its SLA."""
    outcomes = []
    for stage in workflow.stages:
        mine = [(entered, left) for name, entered, left in visits if name == stage.name]
        breached = 0
        for entered, left in mine:
            timers = clock.timers(stage, entered)
            if timers is not None and (left or clock.now) > timers.due_at:
                breached += 1
        ongoing = sum(1 for _, left in mine if left is None)
        outcomes.append(SlaOutcome(stage.name, len(mine), breached, ongoing))
    return outcomes


def guard_input(case: Case, actor: Actor, now: datetime, timezone: str) -> RuleInput:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    role = case.participants.get(actor.participant_id) if actor.participant_id else None
    record = {
        "kind": case.kind,
        "title": case.title,
        "stage": case.stage,
        "due_at": iso(case.due_at),
        "opened_at": iso(case.opened_at),
        "stage_entered_at": iso(case.stage_entered_at),
        "data": dict(case.data),
        "entities": list(case.entities),
        "me": {
            "actor": actor.actor,
            "roles": sorted(actor.roles),
            "participant_id": actor.participant_id,
            "process_role": role,
        },
    }
    return RuleInput(record, None, now, timezone)

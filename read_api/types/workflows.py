"""Process definitions and what a case may do next under them, for the calling member."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import strawberry
from strawberry.scalars import JSON

from domain.calendar import BusinessCalendar
from domain.ids import process_definition_id_for
from domain.process_definition import workflow_of
from domain.schedules.durations import Duration
from domain.workflow import (
    Actor,
    Blocker,
    Case,
    Workflow,
)
from domain.workflow import Stage as StageSpec
from projections.entities.queries import ENTITY, ENTITY_TYPE
from projections.processes.queries import (
    PROCESS_DEFINITION,
    ProcessDefinitionReads,
    ProcessDefinitionRow,
    ProcessRow,
)
from read_api.types.common import Info, field


@strawberry.type(description="Who must approve a stage, and where the case goes after.")
class StageApproval:
    count: int
    role: str | None = strawberry.field(description="Members with this tenant role approve…")
    participant_role: str | None = strawberry.field(
        description="…or the case's participants with this role."
    )
    rejected_to: str
    approved_to: str | None


@strawberry.type(description="A stage of a definition's version.")
class WorkflowStage:
    name: str
    sla_within: str | None = strawberry.field(description="The SLA, an ISO 8601 duration.")
    sla_business_hours: bool | None
    approval: StageApproval | None

    @classmethod
    def of(cls, stage: StageSpec) -> WorkflowStage:
        a = stage.approval
        return cls(
            name=stage.name,
            sla_within=Duration(0, stage.sla.within).to_iso() if stage.sla else None,
            sla_business_hours=stage.sla.business_hours if stage.sla else None,
            approval=StageApproval(
                count=a.count,
                role=a.role,
                participant_role=a.participant_role,
                rejected_to=a.rejected_to,
                approved_to=a.approved_to,
            )
            if a
            else None,
        )


@strawberry.type(description="A transition of a definition's version.")
class WorkflowTransition:
    name: str
    sources: list[str] = strawberry.field(name="from")
    to: str
    guard: Any = strawberry.field(graphql_type=JSON | None)
    roles: list[str] = strawberry.field(description="Only these roles may take it (none: any).")
    requires: list[str] = strawberry.field(description="Fields that must be set first.")


@strawberry.type(description="One published version of a process definition.")
class ProcessDefinitionVersion:
    key: str
    version: int
    published_at: datetime
    spec: Any = strawberry.field(graphql_type=JSON, description="The version as published.")
    fields: list[dict[str, Any]] = strawberry.field(
        graphql_type=JSON, description="The typed fields of its processes' data."
    )
    workflow: strawberry.Private[Workflow]

    @strawberry.field
    def name(self) -> str:
        return self.workflow.name

    @field("Its stages; processes start in the first.")
    def stages(self) -> list[WorkflowStage]:
        return [WorkflowStage.of(stage) for stage in self.workflow.stages]

    @strawberry.field
    def transitions(self) -> list[WorkflowTransition]:
        return [
            WorkflowTransition(
                name=t.name,
                sources=list(t.sources),
                to=t.target,
                guard=t.guard,
                roles=list(t.roles),
                requires=list(t.requires),
            )
            for t in self.workflow.transitions
        ]


def version_of(row: ProcessDefinitionRow, number: int) -> ProcessDefinitionVersion | None:
    if not 1 <= number <= len(row.versions):
        return None
    spec = row.versions[number - 1]
    return ProcessDefinitionVersion(
        key=row.key,
        version=number,
        published_at=datetime.fromisoformat(row.published_at[number - 1]),
        spec=spec,
        fields=spec.get("fields", []),
        workflow=workflow_of(spec),
    )


@strawberry.type(description="A workflow under a key, published in versions.")
class ProcessDefinition:
    row: strawberry.Private[ProcessDefinitionRow]

    @strawberry.field
    def key(self) -> str:
        return self.row.key

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def description(self) -> str:
        return self.row.description

    @field("Retired: no new processes open from it.")
    def retired(self) -> bool:
        return self.row.retired

    @strawberry.field
    def latest_version(self) -> int:
        return len(self.row.versions)

    @field("Every version, oldest first.")
    def versions(self) -> list[ProcessDefinitionVersion]:
        return [v for n in range(1, len(self.row.versions) + 1) if (v := version_of(self.row, n))]

    @field("One version (the latest when not given).")
    def version(self, number: int | None = None) -> ProcessDefinitionVersion | None:
        return version_of(self.row, len(self.row.versions) if number is None else number)


@strawberry.type(description="Why a transition cannot be taken now.")
class TransitionBlocker:
    reason: str = strawberry.field(description="closed, stage, role, requires, approval or guard.")
    message: str
    trace: Any = strawberry.field(graphql_type=JSON | None, description="A false guard's trace.")

    @classmethod
    def of(cls, blocker: Blocker) -> TransitionBlocker:
        trace = blocker.explanation.trace.to_json() if blocker.explanation else None
        return cls(reason=blocker.reason, message=blocker.message, trace=trace)


@strawberry.type(description="A transition of a process's definition, as the caller may take it.")
class TransitionOption:
    name: str
    to: str
    available: bool
    blockers: list[TransitionBlocker] = strawberry.field(
        description="Every reason it cannot be taken now (none when available)."
    )


async def pinned_version(info: Info, row: ProcessRow) -> ProcessDefinitionVersion | None:
    if row.definition_key is None or row.definition_version is None:
        return None
    definition_id = process_definition_id_for(info.context.loaders.tenant_id, row.definition_key)
    found = await info.context.loaders.of(PROCESS_DEFINITION).load(definition_id)
    return version_of(found, row.definition_version) if found else None


async def transition_options(
    info: Info, row: ProcessRow, leaving_only: bool
) -> list[TransitionOption]:
    """Each transition (those leaving the current stage when `leaving_only`), with whether the
    caller may take it now and why not: the command's own checks, on the read model's row."""
    pinned = await pinned_version(info, row)
    if pinned is None:
        return []
    viewer = info.context.require_viewer()
    participant = viewer.claims.get("participant_id")
    actor = Actor(
        viewer.actor,
        frozenset(viewer.grants.roles),
        str(participant) if participant is not None else None,
    )
    case = case_of(row, await _entity_views(info, row))
    timezone = (await tenant_calendar(info)).zone.key
    now = datetime.now(UTC)
    options = []
    for transition in pinned.workflow.transitions:
        if leaving_only and row.stage not in transition.sources:
            continue
        blockers = pinned.workflow.blockers(case, transition, actor, now, timezone)
        options.append(
            TransitionOption(
                name=transition.name,
                to=transition.target,
                available=not blockers,
                blockers=[TransitionBlocker.of(b) for b in blockers],
            )
        )
    return options


def case_of(row: ProcessRow, entities: list[dict[str, Any]]) -> Case:
    return Case(
        kind=row.kind,
        title=row.title,
        stage=row.stage,
        status=row.status,
        data=row.data,
        participants=row.participants,
        approvals=row.approvals,
        due_at=row.due_at,
        opened_at=row.opened_at,
        stage_entered_at=row.stage_entered_at,
        entities=entities,
    )


async def tenant_calendar(info: Info) -> BusinessCalendar:
    settings = await info.context.run(lambda r: r.of(ProcessDefinitionReads).calendar())
    return BusinessCalendar.of(settings)


@strawberry.type(description="The SLA of a process's current stage.")
class StageSla:
    due_at: datetime
    breached: bool = strawberry.field(description="Whether its breach was recorded.")
    business_hours: bool = strawberry.field(
        description="Counted in the tenant's working hours (else in calendar time)."
    )
    remaining: str = strawberry.field(
        description="Time left now, an ISO 8601 duration (negative: overdue by that much), "
        "in working time where the SLA counts it."
    )


async def stage_sla(info: Info, row: ProcessRow) -> StageSla | None:
    if row.sla_due_at is None:
        return None
    pinned = await pinned_version(info, row)
    stage = (
        next((s for s in pinned.workflow.stages if s.name == row.stage), None) if pinned else None
    )
    business = bool(stage and stage.sla and stage.sla.business_hours)
    now = datetime.now(UTC)
    if business:
        calendar = await tenant_calendar(info)
        left = calendar.working_between(now, row.sla_due_at)
        if row.sla_due_at < now:
            left = -calendar.working_between(row.sla_due_at, now)
    else:
        left = row.sla_due_at - now
    seconds = timedelta(seconds=round(left.total_seconds()))
    return StageSla(
        due_at=row.sla_due_at,
        breached=row.sla_breached,
        business_hours=business,
        remaining=Duration(0, seconds).to_iso(),
    )


async def _entity_views(info: Info, row: ProcessRow) -> list[dict[str, Any]]:
    """The linked entities as a guard sees them: type and data, as far as the caller sees."""
    entities = await info.context.loaders.many(info.context.loaders.of(ENTITY), row.entity_ids)
    types = await info.context.loaders.many(
        info.context.loaders.of(ENTITY_TYPE), [e.entity_type_id for e in entities]
    )
    by_id = {t.id: t for t in types}
    views = []
    for entity in entities:
        entity_type = by_id.get(entity.entity_type_id)
        personal = (
            {f["name"] for f in entity_type.fields if f.get("personal")} if entity_type else set()
        )
        data = {k: v for k, v in entity.data.items() if k not in personal}
        views.append({"type": entity_type.name if entity_type else None, "data": data})
    return views


@strawberry.type
class WorkflowQuery:
    @field("The tenant's process definitions, by key (retired ones when asked for).")
    async def process_definitions(
        self, info: Info, include_retired: bool = False
    ) -> list[ProcessDefinition]:
        rows = await info.context.run(lambda r: r.of(ProcessDefinitionReads).every(include_retired))
        return [ProcessDefinition(row=row) for row in rows]

    @field("One process definition by key.")
    async def process_definition(self, info: Info, key: str) -> ProcessDefinition | None:
        rows = await info.context.run(lambda r: r.of(ProcessDefinitionReads).by_keys([key]))
        return ProcessDefinition(row=rows[key]) if key in rows else None

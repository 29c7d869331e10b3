"""`simulateDefinition`: a definition's SLAs and guards replayed over its recorded cases."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import strawberry
from strawberry.scalars import JSON

from domain.errors import InvalidInput
from domain.fields import DataInvalid
from domain.rules import compile_rule
from domain.schedules.durations import Duration
from domain.workflow import Actor, Clock, Workflow, guard_input, sla_outcomes
from domain.workflow_spec import checked_workflow
from projections.processes.queries import ProcessDefinitionReads, ProcessReads
from read_api.errors import PublicError
from read_api.past import past_process
from read_api.types.automation_rules import RuleFault, rule_faults
from read_api.types.common import Info, field
from read_api.types.workflows import case_of, tenant_calendar, version_of


@strawberry.type(description="What one stage's SLA would have meant for past cases.")
class StageSimulation:
    stage: str
    sla_within: str | None = strawberry.field(description="The SLA simulated (null: none).")
    visits: int = strawberry.field(description="Visits of the stage in the period.")
    breached: int = strawberry.field(description="Of those, the ones that would have breached.")
    ongoing: int = strawberry.field(description="Visits not ended yet (judged as of now).")


@strawberry.type(description="What one transition's guard would have said of past moves.")
class TransitionSimulation:
    transition: str
    taken: int = strawberry.field(description="Moves by it in the period.")
    refused: int = strawberry.field(description="Of those, the ones its guard would refuse.")
    unjudged: int = strawberry.field(
        description="Moves its guard cannot judge afterwards: it asks who moved (`me.…`), or "
        "the proposal has no transition of that name."
    )


@strawberry.type(description="A definition's SLAs and guards replayed over its recorded cases.")
class DefinitionSimulation:
    valid: bool
    errors: list[RuleFault]
    cases: int
    stages: list[StageSimulation]
    transitions: list[TransitionSimulation]


@strawberry.type
class DefinitionSimulationQuery:
    @field(
        "How many past cases of a definition would have breached the SLAs of a proposed "
        "version (`proposal`: a definition as `publish-process-definition` takes it; or a "
        "published `version`), over the stage visits entered from `since` to `until`, in the "
        "tenant's working hours where an SLA counts them. Nothing is stored."
    )
    async def simulate_definition(
        self,
        info: Info,
        key: str,
        proposal: JSON | None = None,
        version: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100_000,
    ) -> DefinitionSimulation:
        if (proposal is None) == (version is None):
            raise PublicError("give a proposal or a version")
        if proposal is not None:
            try:
                workflow = checked_workflow(proposal)
            except (InvalidInput, DataInvalid) as exc:
                return DefinitionSimulation(
                    valid=False, errors=rule_faults(exc), cases=0, stages=[], transitions=[]
                )
        else:
            rows = await info.context.run(lambda r: r.of(ProcessDefinitionReads).by_keys([key]))
            pinned = version_of(rows[key], version or 0) if key in rows else None
            if pinned is None:
                raise PublicError(f"no version {version} of definition {key!r}")
            workflow = pinned.workflow
        visits = await info.context.run(
            lambda r: r.of(ProcessReads).visits(key, since, until, min(limit, 1_000_000))
        )
        clock = Clock(datetime.now(UTC), await tenant_calendar(info))
        outcomes = sla_outcomes(
            workflow, [(v.stage, v.entered_at, v.left_at) for v in visits], clock
        )
        stages = [
            StageSimulation(
                stage=outcome.stage,
                sla_within=Duration(0, spec.sla.within).to_iso() if spec.sla else None,
                visits=outcome.visits,
                breached=outcome.breached,
                ongoing=outcome.ongoing,
            )
            for outcome, spec in zip(outcomes, workflow.stages, strict=True)
        ]
        cases = len({v.process_id for v in visits})
        transitions = await _judged_moves(info, workflow, key, since, until, clock)
        return DefinitionSimulation(
            valid=True, errors=[], cases=cases, stages=stages, transitions=transitions
        )


MAX_JUDGED_MOVES = 2_000


async def _judged_moves(
    info: Info,
    workflow: Workflow,
    key: str,
    since: datetime | None,
    until: datetime | None,
    clock: Clock,
) -> list[TransitionSimulation]:
    """Each past move by a transition, judged by the proposed guard of that name on the case
    as it was just before it (rebuilt from its events; at most MAX_JUDGED_MOVES moves)."""
    moves = await info.context.run(
        lambda r: r.of(ProcessReads).transitions_taken(key, since, until, MAX_JUDGED_MOVES)
    )
    counts: dict[str, list[int]] = {}
    proposed = {t.name: t for t in workflow.transitions}
    nobody = Actor("", frozenset())
    for move in moves:
        assert move.transition is not None
        tally = counts.setdefault(move.transition, [0, 0, 0])
        tally[0] += 1
        transition = proposed.get(move.transition)
        if transition is None or "me." in json.dumps(transition.guard):
            tally[2] += 1
            continue
        if transition.guard is None:
            continue
        before = await past_process(info, move.process_id, move.position - 1)
        if before is None:
            tally[2] += 1
            continue
        case = case_of(before, [])
        inp = guard_input(case, nobody, move.entered_at, clock.timezone)
        if not compile_rule(transition.guard).evaluate(inp):
            tally[1] += 1
    names = [t.name for t in workflow.transitions] + sorted(set(counts) - set(proposed))
    return [
        TransitionSimulation(
            transition=name,
            taken=counts.get(name, [0, 0, 0])[0],
            refused=counts.get(name, [0, 0, 0])[1],
            unjudged=counts.get(name, [0, 0, 0])[2],
        )
        for name in names
    ]

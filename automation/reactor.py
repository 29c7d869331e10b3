"""The reactor: the process manager that evaluates process actions against events and plans runs.

It follows the events topic in order, so it sees a process action attached before any event
that follows it. Its state is its index of process actions (one table, `reactor.sql`); what it
issues are `RunPlan`s, which its runner hands to the command service before the index and the
checkpoint commit (see `infra/process_managers.py`). A crash in between replays the batch, and
the run ids (process action + triggering event) make the second plan a no-op.

Conditions are evaluated with "now" = the event's own time, so replaying an old event decides
exactly as the first time did.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import structlog

from automation.lookup import Lookup
from automation.planning import addressed_plans, fallback_plans
from automation.process_manager import ProcessManager, Reaction
from commands.action_runs import RunPlan
from domain.action_catalog import parse_retry
from domain.action_run import ActionRun
from domain.entity import Entity
from domain.rules import CompiledRule, RuleInput, compile_rule
from domain.schedules import Schedule, parse_schedule
from domain.steps import delay_of
from domain.triggers import Trigger, entity_record, occurrence_record, parse_trigger
from eventstore import RecordedEvent
from projections.base import Statement

log = structlog.get_logger("bsdflow.reactor")

PROCESS_EVENTS = {
    "Process.StageEntered": "stage_entered",
    "Process.SlaReminded": "sla_reminder",
    "Process.SlaBreached": "sla_breached",
}
"""Events whose subject is a process, and the trigger each one is."""
RUN_FAILED = "ActionRun.Failed"
TRIGGERING = frozenset({"Occurrence.Recorded", "Entity.Created", "Entity.Updated", *PROCESS_EVENTS})


@dataclass(frozen=True)
class Watch:
    """A process action as the reactor needs it."""

    id: UUID
    tenant_id: UUID
    action_id: UUID
    trigger: Trigger
    condition: dict[str, Any] | None
    schedule: Schedule
    paused: bool
    recipients: tuple[dict[str, str], ...] = ()
    steps: tuple[dict[str, Any], ...] = ()
    rule: CompiledRule | None = field(default=None, compare=False)
    """Compiled once per definition: a cache lookup per event would cost more than the rule."""

    @classmethod
    def of(cls, tenant_id: UUID, process_action_id: UUID, d: dict[str, Any]) -> Watch:
        return cls(
            id=process_action_id,
            tenant_id=tenant_id,
            action_id=UUID(str(d["action_id"])),
            trigger=parse_trigger(d["trigger"]),
            condition=d["condition"],
            schedule=parse_schedule(d["schedule"]),
            paused=bool(d.get("paused")),
            recipients=tuple(d.get("recipients") or ()),
            steps=tuple(d.get("steps") or ()),
            rule=compile_rule(d["condition"]) if d["condition"] is not None else None,
        )

    def definition(self) -> dict[str, Any]:
        return {
            "action_id": str(self.action_id),
            "trigger": self.trigger.to_json(),
            "condition": self.condition,
            "schedule": self.schedule.to_json(),
            "paused": self.paused,
            "recipients": list(self.recipients),
            "steps": list(self.steps),
        }


@dataclass(frozen=True)
class Subject:
    """What an event is about, as triggers, conditions and templates see it."""

    on: str
    record: dict[str, Any]
    """The condition's variables (and the schedule's date fields)."""
    previous: dict[str, Any] | None
    context: Callable[[], dict[str, Any]]
    """The template's variables: the record by name, its process, participants…"""
    matches: Callable[[Trigger], bool]
    """Whether a trigger of kind `on` is about this record (kind, type, stage…)."""
    at: datetime | None = None
    """When it happened, where that is not when its event was stored: an SLA timer fell due
    at its instant, however late the scheduler recorded it."""


class Reactor(ProcessManager[RunPlan]):
    name = "reactor"
    ddl = Path(__file__).with_name("reactor.sql")
    tables = ("process_actions",)

    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup
        self.watches: dict[UUID, dict[UUID, Watch]] = defaultdict(dict)
        self.planned = 0
        """Runs its plans created since start, as its runner counts them: only the command
        service knows which plans were new (a replayed batch creates none)."""

    def load(self, rows: Iterable[tuple[UUID, UUID, dict[str, Any]]]) -> None:
        """The index as of the checkpoint (its table commits with it)."""
        self.watches.clear()
        for tenant_id, process_action_id, definition in rows:
            self.watches[tenant_id][process_action_id] = Watch.of(
                tenant_id, process_action_id, definition
            )

    def concerns(self, event: RecordedEvent) -> bool:
        # A tenant without process actions has nothing to evaluate: its events only move the
        # checkpoint (in time), instead of costing a transaction each.
        if event.name.startswith("ProcessAction."):
            return True
        if event.name == RUN_FAILED:
            return _dead(event) and bool(self.watches.get(event.tenant_id))
        return event.name in TRIGGERING and bool(self.watches.get(event.tenant_id))

    def react(self, events: Iterable[RecordedEvent]) -> Reaction[RunPlan]:
        statements: list[Statement] = []
        plans: list[RunPlan] = []
        for event in events:
            if event.name.startswith("ProcessAction."):
                statements.extend(self._index(event))
            elif event.name == RUN_FAILED and _dead(event) and self.watches.get(event.tenant_id):
                plans.extend(self._fallbacks(event))
            elif event.name in TRIGGERING and self.watches.get(event.tenant_id):
                try:
                    plans.extend(self.plans(event))
                except Exception:
                    # One event's surprise (a deleted participant, a bad stored rule) must not
                    # stop automation for everyone else.
                    log.exception("could not evaluate event", position=event.position)
        return Reaction(tuple(statements), tuple(plans))

    def _fallbacks(self, event: RecordedEvent) -> Iterator[RunPlan]:
        """A run died: its process action's fallback steps (planned once: their ids derive
        from the dead run's)."""
        run = self.lookup.get(ActionRun, event.originator_id, event.version)
        if run is not None:
            yield from fallback_plans(self.lookup, run, event.timestamp)

    def _index(self, event: RecordedEvent) -> Iterator[Statement]:
        tenant, pa_id, d = event.tenant_id, event.originator_id, event.data
        current = self.watches[tenant].get(pa_id)
        kind = event.name.split(".", 1)[1]
        if kind == "Attached":
            watch = Watch.of(tenant, pa_id, {**d, "paused": False})
        elif current is None:
            return
        elif kind == "Revised":
            watch = Watch.of(
                tenant,
                pa_id,
                {**current.definition(), "condition": d["condition"], "schedule": d["schedule"]},
            )
        elif kind == "Addressed":
            watch = Watch.of(tenant, pa_id, {**current.definition(), "recipients": d["recipients"]})
        elif kind == "StepsSet":
            watch = Watch.of(tenant, pa_id, {**current.definition(), "steps": d["steps"]})
        else:
            watch = Watch.of(tenant, pa_id, {**current.definition(), "paused": kind == "Paused"})
        self.watches[tenant][pa_id] = watch
        yield Statement.of(
            "INSERT INTO {schema}.process_actions (tenant_id, id, definition, position) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (tenant_id, id) DO UPDATE "
            "SET definition = EXCLUDED.definition, position = EXCLUDED.position",
            tenant,
            pa_id,
            orjson.dumps(watch.definition()).decode(),
            event.position,
        )

    def plans(self, event: RecordedEvent) -> Iterator[RunPlan]:
        """The runs `event` plans under the process actions this reactor watches."""
        subject = self._subject(event)
        if subject is None:
            return
        tenant = self.lookup.tenant(event.tenant_id)
        trigger_time = subject.at or event.timestamp
        shared: dict[str, Any] | None = None  # built once a watch plans: most events plan none
        for watch in self.watches[event.tenant_id].values():
            if watch.paused or watch.trigger.on != subject.on or not subject.matches(watch.trigger):
                continue
            if watch.rule is not None:
                rule_input = RuleInput(
                    subject.record, subject.previous, trigger_time, tenant["timezone"]
                )
                if not watch.rule.evaluate(rule_input):
                    continue
            planned_at = watch.schedule.first_time(trigger_time, subject.record, tenant["timezone"])
            item = self.lookup.action(watch.action_id)
            if planned_at is None or item is None or item.retired:
                continue
            key = f"event:{event.originator_id}:{event.version}"
            if shared is None:
                shared = subject.context()
            context = {
                **shared,
                "tenant": tenant,
                "trigger": {
                    "event": event.name,
                    "at": trigger_time.isoformat(),
                    "position": event.position,
                },
            }
            planned = RunPlan(
                tenant_id=event.tenant_id,
                process_action_id=watch.id,
                action_id=watch.action_id,
                trigger_key=key,
                planned_at=planned_at,
                context=context,
                retry=parse_retry(item.retry),
                correlation_id=str(event.meta.get("correlation_id", "")),
            )
            yield from addressed_plans(self.lookup, planned, watch.recipients)
            # Follow-ups: planned now, due after their delay; their condition waits till then.
            subject_ref = {"on": subject.on, "id": str(event.originator_id)}
            for step in watch.steps:
                follow_up = self.lookup.action(UUID(step["action_id"]))
                if step["when"] != "after" or follow_up is None or follow_up.retired:
                    continue
                step_ref = {"name": step["name"], "if": step["if"], **subject_ref}
                yield from addressed_plans(
                    self.lookup,
                    replace(
                        planned,
                        action_id=follow_up.id,
                        trigger_key=f"{key}:step:{step['name']}",
                        planned_at=trigger_time + delay_of(step),
                        context={**context, "step": step_ref},
                        retry=parse_retry(follow_up.retry),
                    ),
                    tuple(step["recipients"]),
                )

    def _subject(self, event: RecordedEvent) -> Subject | None:
        d = event.data
        if event.name == "Occurrence.Recorded":
            record = occurrence_record(
                d["kind"],
                datetime.fromisoformat(d["occurred_at"]),
                d["data"],
                d["location"],
                UUID(d["process_id"]) if d["process_id"] else None,
            )
            process = self.lookup.process(UUID(d["process_id"])) if d["process_id"] else None

            def context() -> dict[str, Any]:
                roles = process["participants"] if process else {}
                return {
                    "occurrence": {"id": str(event.originator_id), **record},
                    "process": process,
                    "participants": self.lookup.participants(
                        roles, map(UUID, d["participant_ids"])
                    ),
                }

            def occurrence_matches(t: Trigger) -> bool:
                return t.kind == d["kind"] and (
                    t.process_kind is None
                    or (process is not None and process["kind"] == t.process_kind)
                )

            return Subject("occurrence_recorded", record, None, context, occurrence_matches)
        if event.name in ("Entity.Created", "Entity.Updated"):
            entity = self.lookup.get(Entity, event.originator_id, event.version)
            if entity is None:
                return None
            type_name = self.lookup.entity_type_name(entity.entity_type_id)
            record = entity_record(type_name, entity.data, entity.location)
            previous = None
            if event.name == "Entity.Updated":
                before = self.lookup.get(Entity, event.originator_id, event.version - 1)
                previous = (
                    entity_record(type_name, before.data, before.location) if before else None
                )
            entity_id = str(entity.id)

            def entity_context() -> dict[str, Any]:
                return {"entity": {"id": entity_id, **record}, "process": None, "participants": []}

            on = "entity_created" if event.name == "Entity.Created" else "entity_changed"
            type_id = entity.entity_type_id
            return Subject(
                on, record, previous, entity_context, lambda t: t.entity_type_id == type_id
            )
        if event.name in PROCESS_EVENTS:
            return self._process_subject(event, PROCESS_EVENTS[event.name])
        return None

    def _process_subject(self, event: RecordedEvent, on: str) -> Subject | None:
        d = event.data
        process = self.lookup.process(event.originator_id, previous_stage=d.get("previous"))
        if process is None:
            return None
        record = {k: v for k, v in process.items() if k not in ("id", "participants")}
        record["stage"] = stage = d["stage"]  # as entered (whose SLA it is), even if it moved on
        entered = d.get("entered_at")  # by the command's clock, where it recorded one
        at = datetime.fromisoformat(entered) if on == "stage_entered" and entered else None
        if on != "stage_entered":
            record["sla_due_at"] = d["due_at"]
            record["fraction"] = d.get("fraction", 1.0)  # a breach is the whole SLA
            at = datetime.fromisoformat(d.get("at") or d["due_at"])

        def context() -> dict[str, Any]:
            return {
                "process": process,
                "participants": self.lookup.participants(process["participants"]),
            }

        kind = process["kind"]

        def matches(t: Trigger) -> bool:
            return t.process_kind == kind and t.stage in (None, stage)

        return Subject(on, record, None, context, matches, at)


def _dead(event: RecordedEvent) -> bool:
    """A failed attempt after which no other comes: the run is dead."""
    return event.data.get("next_attempt_at") is None

"""`ruleDryRun`: check a condition against a trigger's typed fields, then show what it decides
for a sample record or for the latest real records, with the trace of every operation.

A faulty rule is an answer (`valid: false` with JSON paths, as the command side reports them),
not a GraphQL error, so editors can show it inline. Nothing is written anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import strawberry
from strawberry.scalars import JSON

from domain.errors import InvalidInput
from domain.fields import DataInvalid, FieldSpec
from domain.rules import CompiledRule, RuleInput, check_rule, compile_rule
from domain.triggers import (
    PROCESS_TRIGGERS,
    Trigger,
    entity_record,
    occurrence_record,
    parse_trigger,
    process_record,
)
from projections.automation.queries import AutomationReads
from projections.entities.queries import EntityFilter, EntityReads
from projections.occurrences.queries import OccurrenceFilter, OccurrenceReads
from projections.processes.queries import PROCESS, ProcessFilter, ProcessReads
from read_api.errors import PublicError
from read_api.types.common import Info, field

MAX_LAST = 100


@strawberry.type(description="What is wrong with a rule, and where (a JSON path).")
class RuleFault:
    path: JSON = strawberry.field(description='E.g. ["condition", "and", 0, ">=", 0, "var"].')
    message: str


@strawberry.type(description="What the rule decided for one record, and why.")
class RuleVerdict:
    subject_id: UUID | None = strawberry.field(
        description="The occurrence, entity or process tested; null for the sample."
    )
    result: bool
    trace: JSON = strawberry.field(description="Each operation with its path and value.")
    record: JSON = strawberry.field(description="The record the rule saw.")


@strawberry.type(description="A rule checked against a trigger and tried on records.")
class RuleDryRun:
    valid: bool
    errors: list[RuleFault]
    variables: JSON = strawberry.field(description="The variables the trigger offers, by type.")
    results: list[RuleVerdict]


@dataclass(frozen=True)
class Subject:
    id: UUID | None
    record: dict[str, Any]
    previous: Mapping[str, Any] | None = None


def rule_faults(exc: InvalidInput | DataInvalid) -> list[RuleFault]:
    """A refusal as the faults an editor shows inline, each at its path."""
    found = (
        [(e.path, e.message) for e in exc.errors]
        if isinstance(exc, DataInvalid)
        else [(exc.path, exc.message)]
    )
    return [RuleFault(path=JSON(list(path)), message=message) for path, message in found]


def _refused(exc: InvalidInput, variables: Mapping[str, str] | None = None) -> RuleDryRun:
    fault = RuleFault(path=JSON(list(exc.path)), message=exc.message)
    return RuleDryRun(
        valid=False, errors=[fault], variables=JSON(dict(variables or {})), results=[]
    )


def _location(lat: float | None, lon: float | None) -> dict[str, float] | None:
    return {"lat": lat, "lon": lon} if lat is not None and lon is not None else None


def _record(value: object, name: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInput("must be a JSON object shaped like the trigger's record", (name,))
    return value


async def trigger_fields(info: Info, trigger: Trigger) -> list[FieldSpec]:
    """The typed fields of the trigger's records, from the read models."""
    if trigger.needs_fields == "occurrence_kind":
        assert trigger.kind is not None
        kind = await info.context.run(
            lambda reads: reads.of(AutomationReads).occurrence_kind_named(str(trigger.kind))
        )
        if kind is None:
            raise InvalidInput(
                f"no occurrence kind named {trigger.kind!r}; define it first "
                "(define-occurrence-kind) so conditions can be checked",
                ("trigger", "kind"),
            )
        return [FieldSpec.from_dict(item) for item in kind.fields]
    if trigger.needs_fields == "entity_type":
        assert trigger.entity_type_id is not None
        entity_type = await info.context.loaders.entity_type.load(trigger.entity_type_id)
        if entity_type is None:
            raise InvalidInput("no entity type with this id", ("trigger", "entity_type_id"))
        return [FieldSpec.from_dict(item) for item in entity_type.fields]
    return []


async def latest_subjects(info: Info, trigger: Trigger, last: int) -> list[Subject]:
    """The trigger's `last` most recent records, built as the reactor builds them."""
    if last == 0 or trigger.on == "schedule":
        return []
    if trigger.on == "occurrence_recorded":
        return await _occurrences(info, trigger, last)
    if trigger.on in PROCESS_TRIGGERS:
        return await _processes(info, trigger, last)
    return await _entities(info, trigger, last)


async def _occurrences(info: Info, trigger: Trigger, last: int) -> list[Subject]:
    where = OccurrenceFilter(kind=trigger.kind)
    rows = (await info.context.run(lambda reads: reads.of(OccurrenceReads).page(where, last))).items
    if trigger.process_kind is not None:  # only occurrences of a process of that kind
        loaders = info.context.loaders
        linked = [r.process_id for r in rows if r.process_id is not None]
        kinds = {p.id: p.kind.casefold() for p in await loaders.many(loaders.of(PROCESS), linked)}
        wanted = trigger.process_kind.casefold()
        rows = [r for r in rows if r.process_id is not None and kinds.get(r.process_id) == wanted]
    subjects = []
    for r in rows:
        location = _location(r.lat, r.lon)
        record = occurrence_record(r.kind, r.occurred_at, r.data, location, r.process_id)
        subjects.append(Subject(r.id, record))
    return subjects


async def _entities(info: Info, trigger: Trigger, last: int) -> list[Subject]:
    assert trigger.entity_type_id is not None
    entity_type = await info.context.loaders.entity_type.load(trigger.entity_type_id)
    name = entity_type.name if entity_type else ""
    where = EntityFilter(entity_type_id=trigger.entity_type_id)
    rows = (await info.context.run(lambda reads: reads.of(EntityReads).page(where, last))).items
    return [Subject(r.id, entity_record(name, r.data, _location(r.lat, r.lon))) for r in rows]


async def _processes(info: Info, trigger: Trigger, last: int) -> list[Subject]:
    where = ProcessFilter(kind=trigger.process_kind, stage=trigger.stage)
    rows = (await info.context.run(lambda reads: reads.of(ProcessReads).page(where, last))).items
    histories = await info.context.loaders.lists(
        ProcessReads, ProcessReads.stage_history
    ).load_many([r.id for r in rows])
    subjects = []
    for r, history in zip(rows, histories, strict=True):
        before = history[-1].previous if history else None
        record = process_record(r.kind, r.title, r.stage, before, r.status, r.due_at, r.data)
        if trigger.on != "stage_entered":  # its SLA's timers: as of the breach
            record |= {"sla_due_at": r.sla_due_at and r.sla_due_at.isoformat(), "fraction": 1.0}
        subjects.append(Subject(r.id, record))
    return subjects


@dataclass(frozen=True)
class Prepared:
    trigger: Trigger
    rule: CompiledRule
    variables: dict[str, Any]
    sample: Subject | None


class Refused(Exception):
    """A fault in the rule or its inputs, with the variables known by then (for editors)."""

    def __init__(self, fault: InvalidInput, variables: dict[str, Any]) -> None:
        super().__init__(fault.message)
        self.fault = fault
        self.variables = variables


async def prepare(
    info: Info, trigger: object, condition: object, sample: object, previous: object, tz: str
) -> Prepared:
    """Everything checkable before evaluating, as the command side checks it (with paths)."""
    variables: dict[str, Any] = {}
    try:
        parsed = parse_trigger(trigger)
        _zone(tz)
        if parsed.on == "schedule":
            raise InvalidInput(
                "a scheduled action has no triggering record to test", ("condition",)
            )
        variables = dict(parsed.variables(await trigger_fields(info, parsed)))
        check_rule(condition, variables, changes=parsed.has_previous)
        rule = compile_rule(condition)
        record, before = _record(sample, "sample"), _record(previous, "previous")
        if before is not None and not parsed.has_previous:
            raise InvalidInput("only entity_changed triggers have a previous state", ("previous",))
    except InvalidInput as exc:
        raise Refused(exc, variables) from None
    subject = Subject(None, record, before) if record is not None else None
    return Prepared(parsed, rule, variables, subject)


def verdict(rule: CompiledRule, subject: Subject, now: datetime, tz: str) -> RuleVerdict:
    inp = RuleInput(data=subject.record, previous=subject.previous, now=now, timezone=tz)
    explanation = rule.explain(inp)
    return RuleVerdict(
        subject_id=subject.id,
        result=bool(explanation.result),
        trace=JSON(explanation.trace.to_json()),
        record=JSON(subject.record),
    )


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown timezone {name!r}", ("timezone",)) from None


@strawberry.type
class RuleQuery:
    @field(
        "Check a condition against a trigger's fields and try it, with no side effects: on "
        "`sample` (a record shaped like the trigger's; `previous` is its state before an "
        "entity change) and/or on the `last` (at most 100) real records of the trigger. "
        "`now` and `timezone` fix the clock for date operators."
    )
    async def rule_dry_run(
        self,
        info: Info,
        trigger: JSON,
        condition: JSON,
        sample: JSON | None = None,
        previous: JSON | None = None,
        last: int | None = None,
        now: datetime | None = None,
        timezone: str = "UTC",
    ) -> RuleDryRun:
        if last is not None and not 0 <= last <= MAX_LAST:
            raise PublicError(f"last must be between 0 and {MAX_LAST} (got {last})")
        try:
            ready = await prepare(info, trigger, condition, sample, previous, timezone)
        except Refused as refused:
            return _refused(refused.fault, refused.variables)
        subjects = [ready.sample] if ready.sample is not None else []
        if last:
            subjects += await latest_subjects(info, ready.trigger, last)
        moment = now or datetime.now(UTC)
        moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        results = [verdict(ready.rule, subject, moment, timezone) for subject in subjects]
        variables = JSON(ready.variables)
        return RuleDryRun(valid=True, errors=[], variables=variables, results=results)

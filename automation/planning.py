"""What the reactor and the scheduler both plan: runs addressed to participants, and the steps
that follow a process action's runs (follow-ups when due, fallbacks when a run is dead)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

from automation.lookup import Lookup
from commands.action_runs import RunPlan
from domain.action_catalog import parse_retry
from domain.action_run import ActionRun
from domain.entity import Entity
from domain.process_action import ProcessAction
from domain.rules import RuleInput, compile_rule
from domain.triggers import PROCESS_TRIGGERS, entity_record

FALLBACK = ":fallback:"


def addressed_plans(
    lookup: Lookup, plan: RunPlan, recipients: tuple[dict[str, str], ...]
) -> Iterator[RunPlan]:
    """`plan`, or, addressed to participants, one plan for each: its run id (and idempotency
    key) its own."""
    if not recipients:
        yield plan
        return
    process = plan.context.get("process") or {}
    for participant in lookup.recipients(
        plan.tenant_id, recipients, process.get("participants") or {}
    ):
        yield replace(
            plan,
            trigger_key=f"{plan.trigger_key}:to:{participant['id']}",
            context={**plan.context, "recipient": participant},
        )


def still_wanted(lookup: Lookup, run: ActionRun, now: datetime, timezone: str) -> str | None:
    """Why a follow-up step's run is no longer wanted (its condition, checked on the record as
    it is now, is false; or the record is gone), or None: it goes out."""
    step = run.context.get("step")
    if not step or step.get("if") is None:
        return None
    record = current_record(lookup, step["on"], UUID(step["id"]), run.context)
    if record is None:
        return f"step {step['name']!r}: its record no longer exists"
    if not compile_rule(step["if"]).evaluate(RuleInput(record, None, now, timezone)):
        return f"step {step['name']!r}: its condition no longer holds"
    return None


def current_record(
    lookup: Lookup, on: str, record_id: UUID, context: dict[str, Any]
) -> dict[str, Any] | None:
    """The triggering record as a condition sees it, as it is now (an occurrence never
    changes: as it was recorded)."""
    if on in PROCESS_TRIGGERS:
        process = lookup.process(record_id)
        if process is None:
            return None
        return {k: v for k, v in process.items() if k not in ("id", "participants")}
    if on in ("entity_created", "entity_changed"):
        entity = lookup.get(Entity, record_id)
        if entity is None:
            return None
        return entity_record(
            lookup.entity_type_name(entity.entity_type_id), entity.data, entity.location
        )
    occurrence = context.get("occurrence")
    return {k: v for k, v in occurrence.items() if k != "id"} if occurrence else None


def fallback_plans(lookup: Lookup, dead: ActionRun, now: datetime) -> Iterator[RunPlan]:
    """The fallback steps of a dead run's process action (a fallback's own death has none).
    Without recipients of its own, a fallback addresses whom the dead run did."""
    if FALLBACK in dead.trigger_key:
        return
    action = lookup.get(ProcessAction, dead.process_action_id)
    for step in action.steps if action is not None else ():
        item = lookup.action(UUID(step["action_id"]))
        if step["when"] != "dead" or item is None or item.retired:
            continue
        yield from addressed_plans(
            lookup,
            RunPlan(
                tenant_id=dead.tenant_id,
                process_action_id=dead.process_action_id,
                action_id=item.id,
                trigger_key=f"{dead.trigger_key}{FALLBACK}{step['name']}",
                planned_at=now,
                context={
                    **dead.context,
                    "step": {"name": step["name"], "if": None, "after_run": str(dead.id)},
                    "failed": {"run_id": str(dead.id), "error": dead.last_error},
                },
                retry=parse_retry(item.retry),
            ),
            tuple(step["recipients"]),
        )

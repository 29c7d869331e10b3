"""Automation commands: the action catalog, process actions, and what users may do to runs.

Creating or changing a catalog action or a process action is also checked by the validation
worker over Kafka request-reply before the handler runs (`validation=` in the registry); the
handler still checks everything the event store alone can decide.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from commands.action_runs import RunPlan
from commands.context import CommandContext, Recorded, not_found_message
from commands.registry import Command, CommandSpec
from domain.action_catalog import ActionCatalogItem, parse_retry
from domain.action_run import ActionRun
from domain.entity_type import EntityType
from domain.errors import Conflict, InvalidInput, NotFound
from domain.fields import FieldSpec
from domain.occurrence_kind import OccurrenceKind
from domain.process_action import ProcessAction
from domain.recipients import parse_recipients
from domain.rules import VarType
from domain.steps import parse_steps
from domain.triggers import Trigger, has_process, parse_trigger
from eventstore import Aggregate, EventStore

A = TypeVar("A", bound=Aggregate)
ACTION_NAMES = "action-name"


def action_name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _get(store: EventStore, cls: type[A], tenant_id: UUID, aggregate_id: UUID) -> A | None:
    found = store.find(cls, aggregate_id)
    return found if getattr(found, "tenant_id", None) == tenant_id else None


def trigger_fields(store: EventStore, tenant_id: UUID, trigger: Trigger) -> list[FieldSpec]:
    """The typed fields a trigger's records carry (an occurrence kind's or an entity type's)."""
    if trigger.needs_fields == "occurrence_kind":
        assert trigger.kind is not None
        kind = _get(
            store, OccurrenceKind, tenant_id, OccurrenceKind.create_id(tenant_id, trigger.kind)
        )
        if kind is None:
            raise InvalidInput(
                f"no occurrence kind named {trigger.kind!r}; define it first "
                "(define-occurrence-kind) so conditions and templates can be checked",
                ("trigger", "kind"),
            )
        return kind.fields
    if trigger.needs_fields == "entity_type":
        assert trigger.entity_type_id is not None
        entity_type = _get(store, EntityType, tenant_id, trigger.entity_type_id)
        if entity_type is None:
            raise NotFound(not_found_message(EntityType), ("trigger", "entity_type_id"))
        return entity_type.fields
    return []


def trigger_variables(store: EventStore, tenant_id: UUID, trigger: Trigger) -> dict[str, VarType]:
    return trigger.variables(trigger_fields(store, tenant_id, trigger))


def catalog_item(store: EventStore, tenant_id: UUID, action_id: UUID) -> ActionCatalogItem:
    item = _get(store, ActionCatalogItem, tenant_id, action_id)
    if item is None:
        raise NotFound(not_found_message(ActionCatalogItem), ("action_id",))
    if item.retired:
        raise Conflict(f"action {item.name!r} is retired", ("action_id",))
    return item


class CreateAction(Command):
    """Add an action to the catalog: a channel (email, sms, webhook…), a template and the
    channel's config; provider credentials are stored encrypted."""

    name: str
    channel: str
    template: dict[str, Any]
    config: dict[str, Any] = {}
    credentials: dict[str, str] | None = None
    retry: dict[str, Any] | None = None


def create_action(cmd: CreateAction, ctx: CommandContext) -> Recorded:
    item = ActionCatalogItem.create(
        ctx.tenant_id,
        cmd.name,
        cmd.channel,
        cmd.template,
        cmd.config,
        ctx.secrets.seal(ctx.tenant_id, cmd.credentials) if cmd.credentials else None,
        cmd.retry,
    )
    try:
        claim = ctx.claim(ACTION_NAMES, action_name_key(cmd.name), item.id, ("name",))
    except Conflict:
        raise InvalidInput(
            f"an action named {cmd.name.strip()!r} already exists", ("name",)
        ) from None
    return ctx.save(item, claim)


class ReviseAction(Command):
    """Change an action's template, config, credentials or retry policy (what is given)."""

    action_id: UUID
    template: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    credentials: dict[str, str] | None = None
    retry: dict[str, Any] | None = None
    expected_version: int | None = None


def revise_action(cmd: ReviseAction, ctx: CommandContext) -> Recorded:
    item = ctx.load(ActionCatalogItem, cmd.action_id, cmd.expected_version, ("action_id",))
    sealed = ctx.secrets.seal(ctx.tenant_id, cmd.credentials) if cmd.credentials else None
    item.revise(cmd.template, cmd.config, sealed, cmd.retry)
    return ctx.save(item)


class RetireAction(Command):
    """Take an action out of the catalog; its name becomes free again."""

    action_id: UUID
    expected_version: int | None = None


def retire_action(cmd: RetireAction, ctx: CommandContext) -> Recorded:
    item = ctx.load(ActionCatalogItem, cmd.action_id, cmd.expected_version, ("action_id",))
    item.retire()
    return ctx.save(item, ctx.release(ACTION_NAMES, action_name_key(item.name)))


class AttachProcessAction(Command):
    """Run a catalog action when a trigger happens and its condition holds, on a schedule."""

    name: str
    action_id: UUID
    trigger: dict[str, Any]
    condition: dict[str, Any] | None = None
    schedule: dict[str, Any] = {"type": "immediate"}
    catch_up: dict[str, Any] | None = None
    recipients: list[dict[str, Any]] | None = None
    """Participants its runs address, one run each (none: the addresses its action names)."""
    steps: list[dict[str, Any]] | None = None
    """Follow-ups after a delay if a condition still holds, and fallbacks when a run is dead."""


def attach_process_action(cmd: AttachProcessAction, ctx: CommandContext) -> Recorded:
    catalog_item(ctx.store, ctx.tenant_id, cmd.action_id)
    trigger = parse_trigger(cmd.trigger)
    variables = trigger_variables(ctx.store, ctx.tenant_id, trigger)
    action = ProcessAction.attach(
        ctx.tenant_id,
        cmd.name,
        cmd.action_id,
        trigger,
        cmd.condition,
        cmd.schedule,
        cmd.catch_up,
        variables,
    )
    action.address(parse_recipients(cmd.recipients, has_process(trigger)))
    action.set_steps(checked_steps(ctx, cmd.steps, trigger, variables))
    return ctx.save(action)


class ReviseProcessAction(Command):
    """Replace a process action's condition, schedule and catch-up policy."""

    process_action_id: UUID
    condition: dict[str, Any] | None = None
    schedule: dict[str, Any] = {"type": "immediate"}
    catch_up: dict[str, Any] | None = None
    recipients: list[dict[str, Any]] | None = None
    """Who its runs address from now on (left out: as before)."""
    steps: list[dict[str, Any]] | None = None
    """Its steps from now on (left out: as before)."""
    expected_version: int | None = None


def revise_process_action(cmd: ReviseProcessAction, ctx: CommandContext) -> Recorded:
    action = ctx.load(
        ProcessAction, cmd.process_action_id, cmd.expected_version, ("process_action_id",)
    )
    trigger = parse_trigger(action.trigger)
    variables = trigger_variables(ctx.store, ctx.tenant_id, trigger)
    action.revise(trigger, cmd.condition, cmd.schedule, cmd.catch_up, variables)
    if cmd.recipients is not None:
        action.address(parse_recipients(cmd.recipients, has_process(trigger)))
    if cmd.steps is not None:
        action.set_steps(checked_steps(ctx, cmd.steps, trigger, variables))
    return ctx.save(action)


def checked_steps(
    ctx: CommandContext, raw: object, trigger: Trigger, variables: Mapping[str, VarType]
) -> list[dict[str, Any]]:
    steps = parse_steps(raw, variables, has_process(trigger))
    for i, step in enumerate(steps):
        try:
            catalog_item(ctx.store, ctx.tenant_id, UUID(step["action_id"]))
        except NotFound as exc:
            raise NotFound(exc.message, ("steps", i, "action_id")) from None
    return steps


class PauseProcessAction(Command):
    """Stop planning new runs for a process action (runs already planned still go out)."""

    process_action_id: UUID
    expected_version: int | None = None


def pause_process_action(cmd: PauseProcessAction, ctx: CommandContext) -> Recorded:
    action = ctx.load(
        ProcessAction, cmd.process_action_id, cmd.expected_version, ("process_action_id",)
    )
    action.pause()
    return ctx.save(action)


class ResumeProcessAction(Command):
    """Plan runs for a paused process action again."""

    process_action_id: UUID
    expected_version: int | None = None


def resume_process_action(cmd: ResumeProcessAction, ctx: CommandContext) -> Recorded:
    action = ctx.load(
        ProcessAction, cmd.process_action_id, cmd.expected_version, ("process_action_id",)
    )
    action.resume()
    return ctx.save(action)


class CancelActionRun(Command):
    """Cancel a planned or retrying run before it is sent."""

    run_id: UUID
    reason: str = "cancelled by a user"
    expected_version: int | None = None


def cancel_action_run(cmd: CancelActionRun, ctx: CommandContext) -> Recorded:
    run = ctx.load(ActionRun, cmd.run_id, cmd.expected_version, ("run_id",))
    run.cancel(cmd.reason)
    return ctx.save(run)


class PlanActionRun(Command):
    """Plan one run of a process action for a trigger (the reactor's command; a trigger that
    was planned before returns the existing run)."""

    process_action_id: UUID
    trigger_key: str
    planned_at: datetime
    context: dict[str, Any] = {}


def plan_action_run(cmd: PlanActionRun, ctx: CommandContext) -> Recorded:
    action = ctx.load(ProcessAction, cmd.process_action_id, path=("process_action_id",))
    run_id = ActionRun.create_id(action.id, cmd.trigger_key)
    if ctx.store.exists(run_id):
        run = ctx.load(ActionRun, run_id, path=("trigger_key",))
        return Recorded(run.id, run.version, ctx.store.position_of(run.id, run.version))
    if action.paused:
        raise Conflict("process action is paused: it plans no runs", ("process_action_id",))
    item = catalog_item(ctx.store, ctx.tenant_id, action.action_id)
    if cmd.planned_at.tzinfo is None:
        raise InvalidInput("must include a timezone offset", ("planned_at",))
    plan = RunPlan(
        ctx.tenant_id,
        action.id,
        item.id,
        cmd.trigger_key,
        cmd.planned_at,
        cmd.context,
        parse_retry(item.retry),
    )
    return ctx.save(plan.new_run())


SPECS: list[CommandSpec[Any]] = [
    CommandSpec(
        "create-action", CreateAction, create_action, "automation:write", validation="action"
    ),
    CommandSpec(
        "revise-action", ReviseAction, revise_action, "automation:write", validation="action"
    ),
    CommandSpec("retire-action", RetireAction, retire_action, "automation:write"),
    CommandSpec(
        "attach-process-action",
        AttachProcessAction,
        attach_process_action,
        "automation:write",
        validation="process-action",
    ),
    CommandSpec(
        "revise-process-action",
        ReviseProcessAction,
        revise_process_action,
        "automation:write",
        validation="process-action",
    ),
    CommandSpec(
        "pause-process-action", PauseProcessAction, pause_process_action, "automation:write"
    ),
    CommandSpec(
        "resume-process-action", ResumeProcessAction, resume_process_action, "automation:write"
    ),
    CommandSpec("cancel-action-run", CancelActionRun, cancel_action_run, "automation:operate"),
    CommandSpec("plan-action-run", PlanActionRun, plan_action_run, "automation:run"),
]

"""Automation: occurrence kinds, the action catalog, process actions, runs and their attempts.

The catalog's provider credentials are ciphertext in the event store; this read model keeps
only whether an action has any (`has_credentials`), so no read path can ever leak them.
Every handler touches only its own aggregate's rows, so batches may be reordered by aggregate
(a burst of thousands of runs started together becomes a few `executemany` calls).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from domain.action_catalog import ActionCatalogItem
from domain.action_run import ActionRun
from domain.occurrence_kind import OccurrenceKind
from domain.process_action import ProcessAction
from eventstore import RecordedEvent
from projections.automation.queries import ACTION, OCCURRENCE_KIND, PROCESS_ACTION
from projections.automation.runs import ACTION_RUN
from projections.base import Projection, Statement, event_class, handles, jsonb, versioned_update


def when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _finish_attempt(e: RecordedEvent, outcome: str, assignments: str, *values: Any) -> Statement:
    """Close the attempt a `Started` event opened; a redelivered outcome finds it closed."""
    return Statement.of(
        "UPDATE {schema}.action_run_attempts SET outcome = %s, finished_at = %s, "  # noqa: S608
        f"{assignments} WHERE tenant_id = %s AND run_id = %s "
        "AND attempt = %s AND outcome = 'sending'",
        outcome,
        when(e.data["at"]),
        *values,
        e.tenant_id,
        e.originator_id,
        e.data["attempt"],
    )


class AutomationProjection(Projection):
    version = 2  # 2: process actions' recipients and steps
    ddl = Path(__file__).with_name("schema.sql")
    tables = (
        "occurrence_kinds",
        "actions",
        "process_actions",
        "action_runs",
        "action_run_attempts",
    )
    change_kinds = {
        "ActionRun": "action_run",
        "ActionCatalogItem": "action",
        "ProcessAction": "process_action",
        "OccurrenceKind": "occurrence_kind",
    }
    feeds = (ACTION_RUN, ACTION, PROCESS_ACTION, OCCURRENCE_KIND)

    @handles(event_class(OccurrenceKind, "Defined"))
    def kind_defined(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        yield Statement.of(
            "INSERT INTO {schema}.occurrence_kinds (tenant_id, id, name, description, fields, "
            "version, position, created_at, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (tenant_id, id) DO NOTHING",
            e.tenant_id,
            e.originator_id,
            d["name"],
            d["description"],
            jsonb(d["fields"]),
            e.version,
            e.position,
            e.timestamp,
            e.timestamp,
        )

    @handles(event_class(OccurrenceKind, "Revised"))
    def kind_revised(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update("occurrence_kinds", "fields = %s", e, jsonb(e.data["fields"]))

    @handles(event_class(ActionCatalogItem, "Created"))
    def action_created(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        yield Statement.of(
            "INSERT INTO {schema}.actions (tenant_id, id, name, channel, template, config, "
            "has_credentials, retry, version, position, created_at, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (tenant_id, id) DO NOTHING",
            e.tenant_id,
            e.originator_id,
            d["name"],
            d["channel"],
            jsonb(d["template"]),
            jsonb(d["config"]),
            d["credentials"] is not None,
            jsonb(d["retry"]),
            e.version,
            e.position,
            e.timestamp,
            e.timestamp,
        )

    @handles(event_class(ActionCatalogItem, "Revised"))
    def action_revised(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        yield versioned_update(
            "actions",
            "template = %s, config = %s, has_credentials = %s, retry = %s",
            e,
            jsonb(d["template"]),
            jsonb(d["config"]),
            d["credentials"] is not None,
            jsonb(d["retry"]),
        )

    @handles(event_class(ActionCatalogItem, "Retired"))
    def action_retired(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update("actions", "retired = true", e)

    @handles(event_class(ProcessAction, "Attached"))
    def attached(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        yield Statement.of(
            "INSERT INTO {schema}.process_actions (tenant_id, id, name, action_id, trigger, "
            "trigger_on, condition, schedule, catch_up, version, position, created_at, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (tenant_id, id) DO NOTHING",
            e.tenant_id,
            e.originator_id,
            d["name"],
            d["action_id"],
            jsonb(d["trigger"]),
            d["trigger"]["on"],
            _nullable_json(d["condition"]),
            jsonb(d["schedule"]),
            jsonb(d["catch_up"]),
            e.version,
            e.position,
            e.timestamp,
            e.timestamp,
        )

    @handles(event_class(ProcessAction, "Revised"))
    def process_action_revised(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        yield versioned_update(
            "process_actions",
            "condition = %s, schedule = %s, catch_up = %s",
            e,
            _nullable_json(d["condition"]),
            jsonb(d["schedule"]),
            jsonb(d["catch_up"]),
        )

    @handles(event_class(ProcessAction, "Addressed"))
    def addressed(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update("process_actions", "recipients = %s", e, jsonb(e.data["recipients"]))

    @handles(event_class(ProcessAction, "StepsSet"))
    def steps_set(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update("process_actions", "steps = %s", e, jsonb(e.data["steps"]))

    @handles(event_class(ProcessAction, "Paused"))
    def paused(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update("process_actions", "paused = true", e)

    @handles(event_class(ProcessAction, "Resumed"))
    def resumed(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update("process_actions", "paused = false", e)

    @handles(event_class(ActionRun, "Planned"))
    def planned(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        planned_at = when(d["planned_at"])
        yield Statement.of(
            "INSERT INTO {schema}.action_runs (tenant_id, id, process_action_id, action_id, "
            "trigger_key, status, planned_at, due_at, context, version, position, created_at, "
            "updated_at) VALUES (%s, %s, %s, %s, %s, 'planned', %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (tenant_id, id) DO NOTHING",
            e.tenant_id,
            e.originator_id,
            d["process_action_id"],
            d["action_id"],
            d["trigger_key"],
            planned_at,
            planned_at,
            jsonb(d["context"]),
            e.version,
            e.position,
            e.timestamp,
            e.timestamp,
        )

    @handles(event_class(ActionRun, "Started"))
    def started(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        yield versioned_update("action_runs", "status = 'sending', attempts = %s", e, d["attempt"])
        yield Statement.of(
            "INSERT INTO {schema}.action_run_attempts (tenant_id, run_id, attempt, started_at, "
            "outcome) VALUES (%s, %s, %s, %s, 'sending') ON CONFLICT DO NOTHING",
            e.tenant_id,
            e.originator_id,
            d["attempt"],
            when(d["at"]),
        )

    @handles(event_class(ActionRun, "Delivered"))
    def delivered(self, e: RecordedEvent) -> Iterator[Statement]:
        d = e.data
        yield versioned_update(
            "action_runs",
            "status = 'delivered', provider_message_id = %s, finished_at = %s",
            e,
            d["provider_message_id"],
            when(d["at"]),
        )
        yield _finish_attempt(
            e,
            "delivered",
            "provider_message_id = %s, detail = %s",
            d["provider_message_id"],
            d["detail"] or None,
        )

    @handles(event_class(ActionRun, "Failed"))
    def failed(self, e: RecordedEvent) -> Iterator[Statement]:
        """Retrying moves the due time on; with no next attempt the run is dead (finished)."""
        d = e.data
        next_at = when(d["next_attempt_at"])
        yield versioned_update(
            "action_runs",
            "last_error = %s, status = %s, due_at = coalesce(%s::timestamptz, due_at), "
            "finished_at = %s",
            e,
            d["error"],
            "retrying" if next_at else "dead",
            next_at,
            None if next_at else when(d["at"]),
        )
        yield _finish_attempt(e, "failed", "error = %s, next_attempt_at = %s", d["error"], next_at)

    @handles(event_class(ActionRun, "Cancelled"))
    def cancelled(self, e: RecordedEvent) -> Iterator[Statement]:
        yield versioned_update(
            "action_runs",
            "status = 'cancelled', last_error = %s, finished_at = %s",
            e,
            e.data["reason"],
            e.timestamp,
        )


def _nullable_json(value: Any) -> str | None:
    return None if value is None else jsonb(value)

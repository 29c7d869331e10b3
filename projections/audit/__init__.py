"""The audit trail: one row per domain event — which record, who (the actor), through which
command, when, with which correlation id, and which fields it changed.

Every aggregate of the domain is audited but the bookkeeping ones (unique-value claims,
idempotency receipts). The rows are the store's own metadata, so a rebuild gives them back
exactly; nothing of a field's value is kept here, only its name (`history` tells what changed,
the record's own read model what it is now).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

from domain.access import Member, Role
from domain.action_catalog import ActionCatalogItem
from domain.action_run import ActionRun
from domain.assistant_call import AssistantCall
from domain.document import Document
from domain.entity import Entity
from domain.entity_type import EntityType
from domain.group import Group
from domain.import_job import ImportJob
from domain.occurrence import Occurrence
from domain.occurrence_kind import OccurrenceKind
from domain.participant import Participant
from domain.process import Process
from domain.process_action import ProcessAction
from domain.tenant import Tenant
from eventstore import RecordedEvent
from projections.base import Projection, Rows, Statement, handles

AUDITED: tuple[Any, ...] = (
    ActionCatalogItem,
    ActionRun,
    AssistantCall,
    Document,
    Entity,
    EntityType,
    Group,
    ImportJob,
    Member,
    Occurrence,
    OccurrenceKind,
    Participant,
    Process,
    ProcessAction,
    Role,
    Tenant,
)
BOOKKEEPING = frozenset({"timestamp", "tenant_id", "originator_topic", "schema_version"})
"""Payload keys that are no field of the record."""
RECORD_VALUES = frozenset({"data", "changes"})
"""Payload keys holding the record's own field values (a creation's, an update's)."""


def events_of(aggregates: tuple[Any, ...]) -> tuple[type, ...]:
    """Every event class the aggregates define (`Entity.Created`, `Entity.Updated`, …)."""
    return tuple(
        member
        for aggregate in aggregates
        for member in vars(aggregate).values()
        if isinstance(member, type)
        and issubclass(member, aggregate.Event)
        and member is not aggregate.Event
    )


def changed_fields(data: dict[str, Any]) -> list[str]:
    """The fields an event set: the names of the field values it carries and its other
    attributes, leaving out what it left unset (null)."""
    fields: set[str] = set()
    for key, value in data.items():
        if key in BOOKKEEPING or value is None:
            continue
        if key in RECORD_VALUES and isinstance(value, dict):
            fields.update(value)
        else:
            fields.add(key)
    return sorted(fields)


def change_id(aggregate_id: UUID, version: int) -> UUID:
    """One id per change of a record, the same in every rebuild (pages are keyed by it)."""
    return uuid.uuid5(aggregate_id, str(version))


CHANGE = Rows(
    "INSERT INTO {schema}.changes (tenant_id, id, position, aggregate_id, aggregate_type, "
    "event, version, at, actor, command, correlation_id, fields) "
    "SELECT r.tenant_id, r.id, r.position, r.aggregate_id, r.aggregate_type, r.event, "
    "r.version, r.at, r.actor, r.command, r.correlation_id, r.fields FROM {rows} "
    "ON CONFLICT (tenant_id, id) DO NOTHING",
    tenant_id="uuid",
    id="uuid",
    position="bigint",
    aggregate_id="uuid",
    aggregate_type="text",
    event="text",
    version="int",
    at="timestamptz",
    actor="text",
    command="text",
    correlation_id="text",
    fields="jsonb",
)


class AuditProjection(Projection):
    ddl = Path(__file__).with_name("schema.sql")
    tables = ("changes",)

    @handles(*events_of(AUDITED))
    def changed(self, e: RecordedEvent) -> Iterator[Statement]:
        aggregate_type, event = e.name.split(".", 1)
        yield CHANGE.of(
            e.tenant_id,
            change_id(e.originator_id, e.version),
            e.position,
            e.originator_id,
            aggregate_type,
            event,
            e.version,
            e.timestamp,
            e.meta.get("actor"),
            e.meta.get("command"),
            e.meta.get("correlation_id"),
            changed_fields(e.data),
        )

"""Every command the platform accepts, in one registry."""

from __future__ import annotations

from commands import (
    access,
    api_keys,
    automation,
    documents,
    entities,
    entity_types,
    groups,
    imports,
    occurrence_kinds,
    occurrences,
    participants,
    process_definitions,
    processes,
    tenants,
)
from commands.registry import collect

COMMANDS = collect(
    tenants.SPECS,
    entity_types.SPECS,
    entities.SPECS,
    groups.SPECS,
    participants.SPECS,
    process_definitions.SPECS,
    processes.SPECS,
    occurrences.SPECS,
    documents.SPECS,
    imports.SPECS,
    occurrence_kinds.SPECS,
    automation.SPECS,
    access.SPECS,
    api_keys.SPECS,
)

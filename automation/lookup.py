"""Reading aggregates from the event store for the automation workers, with short caches.

Workers decide from the source of truth, not from read models that may lag: a process
action's trigger must see the process, participants and tenant as they are in the store.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, TypeVar
from uuid import UUID

from domain.action_catalog import ActionCatalogItem
from domain.entity_type import EntityType
from domain.participant import Participant
from domain.process import Process
from domain.tenant import DEFAULT_SETTINGS, Tenant
from domain.triggers import process_record
from eventstore import Aggregate, EventStore

A = TypeVar("A", bound=Aggregate)
TTL_SECONDS = 5.0


class Lookup:
    def __init__(self, store: EventStore, ttl: float = TTL_SECONDS) -> None:
        self.store = store
        self.ttl = ttl
        self._cache: dict[tuple[str, UUID], tuple[float, Any]] = {}

    def get(self, cls: type[A], aggregate_id: UUID, version: int | None = None) -> A | None:
        return self.store.find(cls, aggregate_id, version)

    def _cached(self, kind: str, key: UUID, load: Any) -> Any:
        hit = self._cache.get((kind, key))
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        value = load()
        self._cache[(kind, key)] = (now, value)
        return value

    def tenant(self, tenant_id: UUID) -> dict[str, Any]:
        def load() -> dict[str, Any]:
            tenant = self.get(Tenant, tenant_id)
            settings = {**DEFAULT_SETTINGS, **(tenant.settings if tenant else {})}
            return {
                "id": str(tenant_id),
                "slug": tenant.slug if tenant else "",
                "name": tenant.name if tenant else "",
                "timezone": settings["timezone"],
                "deliveries_per_second": settings["deliveries_per_second"],
            }

        result: dict[str, Any] = self._cached("tenant", tenant_id, load)
        return result

    def action(self, action_id: UUID) -> ActionCatalogItem | None:
        found: ActionCatalogItem | None = self._cached(
            "action", action_id, lambda: self.get(ActionCatalogItem, action_id)
        )
        return found

    def entity_type_name(self, entity_type_id: UUID) -> str:
        found = self._cached("type", entity_type_id, lambda: self.get(EntityType, entity_type_id))
        return found.name if found is not None else ""

    def process(self, process_id: UUID, previous_stage: str | None = None) -> dict[str, Any] | None:
        process = self.get(Process, process_id)
        if process is None:
            return None
        record = process_record(
            process.kind,
            process.title,
            process.stage,
            previous_stage,
            process.status,
            process.due_at,
            process.data,
        )
        return {"id": str(process.id), **record, "participants": process.participants}

    def participants(
        self, roles: dict[str, str], extra: Iterable[UUID] = ()
    ) -> list[dict[str, Any]]:
        """Participants by id with their role in the process (if any), in a stable order."""
        ids = list(dict.fromkeys([*(UUID(k) for k in roles), *extra]))
        found = []
        for participant_id in ids:
            p = self.get(Participant, participant_id)
            if p is not None:
                found.append(
                    {
                        "id": str(p.id),
                        "name": p.name,
                        "email": p.email,
                        "phone": p.phone,
                        "kind": p.kind,
                        "role": roles.get(str(p.id)),
                    }
                )
        return found

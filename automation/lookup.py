"""Reading aggregates from the event store for the automation workers, with short caches.

Workers decide from the source of truth, not from read models that may lag: a process
action's trigger must see the process, participants and tenant as they are in the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar
from uuid import UUID

from domain.action_catalog import ActionCatalogItem
from domain.entity_type import EntityType
from domain.group import Group
from domain.participant import Participant
from domain.process import Process
from domain.tenant import DEFAULT_SETTINGS, Tenant
from domain.triggers import process_record
from eventstore import Aggregate, EventStore

A = TypeVar("A", bound=Aggregate)
TTL_SECONDS = 5.0


class Lookup:
    def __init__(
        self,
        store: EventStore,
        ttl: float = TTL_SECONDS,
        role_contacts: Callable[[UUID, str], list[UUID]] | None = None,
    ) -> None:
        self.store = store
        self.ttl = ttl
        self._cache: dict[tuple[str, UUID], tuple[float, Any]] = {}
        self._role_contacts = role_contacts
        """The participants who are the contacts of a role's members (from the access read
        model: the event store cannot list members by role)."""

    def recipients(
        self, tenant_id: UUID, selectors: Iterable[Mapping[str, str]], roles: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """The participants `selectors` name, each once, in order (`roles`: the triggering
        process's participant id → role)."""
        ids: list[UUID] = []
        for selector in selectors:
            kind, value = next(iter(selector.items()))
            if kind == "participant":
                ids.append(UUID(value))
            elif kind == "process_role":
                ids.extend(UUID(p) for p, role in roles.items() if role == value)
            elif kind == "group":
                group = self.get(Group, UUID(value))
                if group is not None and group.tenant_id == tenant_id:
                    ids.extend(group.participant_ids)
            elif kind == "role" and self._role_contacts is not None:
                ids.extend(self._role_contacts(tenant_id, value))
        return self.participants(roles, ids, only=set(ids), tenant_id=tenant_id)

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
        self,
        roles: Mapping[str, str],
        extra: Iterable[UUID] = (),
        only: set[UUID] | None = None,
        tenant_id: UUID | None = None,
    ) -> list[dict[str, Any]]:
        """Participants by id with their role in the process (if any), in a stable order
        (`only` those, and only of `tenant_id`, when given)."""
        ids = list(dict.fromkeys([*(UUID(k) for k in roles), *extra]))
        found = []
        for participant_id in ids:
            if only is not None and participant_id not in only:
                continue
            p = self.get(Participant, participant_id)
            if p is not None and (tenant_id is None or p.tenant_id == tenant_id):
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

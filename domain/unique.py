"""UniqueClaim: a value reserved within a scope (e.g. an email within an entity type).

The claim's id is derived from scope and value, so the event store itself refuses a second
claimant; a released claim can be taken again by a later version.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict
from domain.ids import unique_claim_id_for


class UniqueClaim(Aggregate):
    @staticmethod
    def create_id(tenant_id: UUID, scope: str, value: str) -> UUID:
        return unique_claim_id_for(tenant_id, scope, value)

    @event("Claimed")
    def __init__(self, tenant_id: UUID, scope: str, value: str, owner_id: UUID) -> None:
        self.tenant_id = tenant_id
        self.scope = scope
        self.value = value
        self.owner_id: UUID | None = owner_id

    def reclaim(self, owner_id: UUID) -> None:
        if self.owner_id is not None and self.owner_id != owner_id:
            raise Conflict(f"{self.value!r} is already taken")
        if self.owner_id is None:
            self._reclaimed(owner_id)

    @event("Reclaimed")
    def _reclaimed(self, owner_id: UUID) -> None:
        self.owner_id = owner_id

    def release(self) -> None:
        if self.owner_id is not None:
            self._released()

    @event("Released")
    def _released(self) -> None:
        self.owner_id = None

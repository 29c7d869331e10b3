"""Occurrence: something that happened in the organisation (incident, visit, payment...).

Named *occurrence* so it is never confused with the domain events that record it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, InvalidInput
from domain.geo import clean_location
from domain.names import clean_name


class Occurrence(Aggregate):
    @event("Recorded")
    def __init__(
        self,
        tenant_id: UUID,
        kind: str,
        occurred_at: datetime,
        data: dict[str, Any],
        location: dict[str, float] | None,
        process_id: UUID | None,
        entity_ids: list[UUID],
        participant_ids: list[UUID],
    ) -> None:
        self.tenant_id = tenant_id
        self.kind = kind
        self.occurred_at = occurred_at
        self.data = data
        self.location = location
        self.process_id = process_id
        self.entity_ids = entity_ids
        self.participant_ids = participant_ids
        self.retracted: str | None = None

    @classmethod
    def record(
        cls,
        tenant_id: UUID,
        kind: str,
        occurred_at: datetime,
        data: dict[str, Any] | None = None,
        location: dict[str, Any] | None = None,
        process_id: UUID | None = None,
        entity_ids: list[UUID] | None = None,
        participant_ids: list[UUID] | None = None,
    ) -> Occurrence:
        if occurred_at.tzinfo is None:
            raise InvalidInput("must include a timezone offset", ("occurred_at",))
        return cls(
            tenant_id=tenant_id,
            kind=clean_name(kind, ("kind",), 63),
            occurred_at=occurred_at,
            data=data or {},
            location=clean_location(location),
            process_id=process_id,
            entity_ids=list(dict.fromkeys(entity_ids or [])),
            participant_ids=list(dict.fromkeys(participant_ids or [])),
        )

    def retract(self, reason: str) -> None:
        if self.retracted is not None:
            raise Conflict("occurrence is already retracted")
        self._retracted(clean_name(reason, ("reason",), 500))

    @event("Retracted")
    def _retracted(self, reason: str) -> None:
        self.retracted = reason

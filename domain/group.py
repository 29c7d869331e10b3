"""Group: a named set of entities and/or participants."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput
from domain.names import clean_name


class Group(Aggregate):
    @event("Created")
    def __init__(self, tenant_id: UUID, name: str, description: str) -> None:
        self.tenant_id = tenant_id
        self.name = name
        self.description = description
        self.entity_ids: list[UUID] = []
        self.participant_ids: list[UUID] = []

    @classmethod
    def create(cls, tenant_id: UUID, name: str, description: str = "") -> Group:
        return cls(tenant_id=tenant_id, name=clean_name(name), description=description.strip())

    def rename(self, name: str) -> None:
        self._renamed(clean_name(name))

    @event("Renamed")
    def _renamed(self, name: str) -> None:
        self.name = name

    def add_members(self, entity_ids: list[UUID], participant_ids: list[UUID]) -> None:
        new_entities = [i for i in dict.fromkeys(entity_ids) if i not in self.entity_ids]
        new_participants = [
            i for i in dict.fromkeys(participant_ids) if i not in self.participant_ids
        ]
        if not entity_ids and not participant_ids:
            raise InvalidInput("name at least one entity or participant", ("entity_ids",))
        if new_entities or new_participants:
            self._members_added(new_entities, new_participants)

    @event("MembersAdded")
    def _members_added(self, entity_ids: list[UUID], participant_ids: list[UUID]) -> None:
        self.entity_ids = [*self.entity_ids, *entity_ids]
        self.participant_ids = [*self.participant_ids, *participant_ids]

    def remove_members(self, entity_ids: list[UUID], participant_ids: list[UUID]) -> None:
        gone_entities = [i for i in dict.fromkeys(entity_ids) if i in self.entity_ids]
        gone_participants = [i for i in dict.fromkeys(participant_ids) if i in self.participant_ids]
        if gone_entities or gone_participants:
            self._members_removed(gone_entities, gone_participants)

    @event("MembersRemoved")
    def _members_removed(self, entity_ids: list[UUID], participant_ids: list[UUID]) -> None:
        self.entity_ids = [i for i in self.entity_ids if i not in entity_ids]
        self.participant_ids = [i for i in self.participant_ids if i not in participant_ids]

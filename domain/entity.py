"""Entity: one record of a tenant-defined EntityType."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.entity_type import EntityType
from domain.errors import Conflict, InvalidInput
from domain.fields import (
    DataInvalid,
    FieldError,
    FieldSpec,
    personal_names,
    unique_values,
    validate_data,
)
from domain.geo import clean_location


class Entity(Aggregate):
    forgotten: bool = False
    """Whether its personal fields were erased (the class default serves older snapshots)."""
    _personal: frozenset[str] = frozenset()
    """Its type's personal fields, as the command that changes it knew them: no event holds
    this, the event store reads it to seal those values (`personal_fields`)."""

    @property
    def personal_fields(self) -> frozenset[str]:
        return self._personal

    @event("Created")
    def __init__(
        self,
        tenant_id: UUID,
        entity_type_id: UUID,
        schema_version: int,
        data: dict[str, Any],
        location: dict[str, float] | None,
    ) -> None:
        self.tenant_id = tenant_id
        self.entity_type_id = entity_type_id
        self.schema_version = schema_version
        self.data = data
        self.location = location
        self.archived = False

    @classmethod
    def create(
        cls,
        entity_type: EntityType,
        data: dict[str, Any],
        location: dict[str, Any] | None,
        entity_id: UUID | None = None,
    ) -> Entity:
        """`entity_id`: a deterministic id (an import's row), so recording it twice fails."""
        if entity_type.retired:
            raise Conflict(f"entity type {entity_type.name!r} is retired", ("entity_type_id",))
        if location is not None:
            _refuse_own_location(entity_type)
        entity = cls._create(
            cls.Created,
            id=entity_id,
            tenant_id=entity_type.tenant_id,
            entity_type_id=entity_type.id,
            schema_version=entity_type.schema_version,
            data=_validated(entity_type.fields, data, partial=False),
            location=clean_location(location),
        )
        entity._personal = personal_names(entity_type.fields)
        return entity

    def update(
        self,
        entity_type: EntityType,
        changes: dict[str, Any],
        location: dict[str, Any] | None = None,
        *,
        clear_location: bool = False,
    ) -> None:
        """Apply a partial change, validated against the type's *current* schema."""
        if self.archived:
            raise Conflict("entity is archived")
        if location is not None or clear_location:
            _refuse_own_location(entity_type)
        cleaned = _validated(entity_type.fields, changes, partial=True)
        self._personal = personal = personal_names(entity_type.fields)
        erased = personal if self.forgotten else frozenset()
        refused = sorted(k for k in erased if cleaned.get(k) is not None)
        if refused:
            raise Conflict(
                "this entity's personal data was erased: its personal fields stay empty",
                ("data", refused[0]),
            )
        merged = {**self.data, **cleaned}
        missing = [
            f.name
            for f in entity_type.fields
            if f.required and merged.get(f.name) is None and f.name not in erased
        ]
        if missing:
            raise InvalidInput("is required", ("data", missing[0]))
        new_location = None if clear_location else clean_location(location) or self.location
        if cleaned == {k: self.data.get(k) for k in cleaned} and new_location == self.location:
            return
        self._updated(cleaned, entity_type.schema_version, new_location)

    @event("Updated")
    def _updated(
        self, changes: dict[str, Any], schema_version: int, location: dict[str, float] | None
    ) -> None:
        self.data = {**self.data, **changes}
        self.schema_version = schema_version
        self.location = location

    def archive(self) -> None:
        if self.archived:
            raise Conflict("entity is already archived")
        self._archived()

    @event("Archived")
    def _archived(self) -> None:
        self.archived = True

    def forget(self, entity_type: EntityType) -> None:
        """Record that its personal fields were erased (their key destroyed first, by the event
        store); forgetting again changes nothing."""
        personal = personal_names(entity_type.fields)
        if not personal:
            raise InvalidInput(
                f"entities of type {entity_type.name!r} have no personal fields", ("entity_id",)
            )
        if not self.forgotten:
            self._forgotten(sorted(personal))

    @event("Forgotten")
    def _forgotten(self, fields: list[str]) -> None:
        self.forgotten = True
        self.data = {k: v for k, v in self.data.items() if k not in fields}

    def unique_values(self, fields: list[FieldSpec]) -> dict[str, str]:
        return {} if self.archived else unique_values(fields, self.data)


def _refuse_own_location(entity_type: EntityType) -> None:
    """A type that names its location field has one location, that field: a second one given
    beside it would be ignored or would contradict it, so it is refused rather than guessed."""
    if entity_type.location_field is not None:
        raise InvalidInput(
            f"entities of type {entity_type.name!r} are located by their field "
            f"{entity_type.location_field!r}: set data.{entity_type.location_field} instead",
            ("location",),
        )


def _validated(fields: list[FieldSpec], data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """Validate entity data, reporting faults under the `data` key the client sent."""
    try:
        return validate_data(fields, data, partial=partial)
    except DataInvalid as exc:
        raise DataInvalid([FieldError(("data", *e.path), e.message) for e in exc.errors]) from None

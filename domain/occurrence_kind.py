"""OccurrenceKind: the typed shape of one kind of occurrence (incident, visit, payment…).

Defining a kind is optional for recording occurrences, but it is what lets rules and templates
be checked against real field names and types when they are saved.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.entity_type import TYPE_NAME, parse_fields
from domain.errors import InvalidInput
from domain.fields import DataInvalid, FieldError, FieldSpec, validate_data
from domain.ids import occurrence_kind_id_for
from domain.names import clean_name


class OccurrenceKind(Aggregate):
    @staticmethod
    def create_id(tenant_id: UUID, name: str) -> UUID:
        return occurrence_kind_id_for(tenant_id, name)

    @event("Defined")
    def __init__(
        self, tenant_id: UUID, name: str, description: str, fields: list[dict[str, Any]]
    ) -> None:
        self.tenant_id = tenant_id
        self.name = name
        self.description = description
        self.field_dicts = fields

    @classmethod
    def define(
        cls, tenant_id: UUID, name: str, fields: list[dict[str, Any]], description: str = ""
    ) -> OccurrenceKind:
        name = clean_name(name, max_length=63)
        if not TYPE_NAME.match(name):
            raise InvalidInput(
                "letters, digits, space, '_' or '-', starting with a letter", ("name",)
            )
        specs = parse_fields(fields, None)
        return cls(
            tenant_id=tenant_id,
            name=name,
            description=description.strip(),
            fields=[spec.to_dict() for spec in specs],
        )

    @property
    def fields(self) -> list[FieldSpec]:
        return [FieldSpec.from_dict(item) for item in self.field_dicts]

    def revise(self, fields: list[dict[str, Any]]) -> None:
        specs = parse_fields(fields, None)
        self._revised([spec.to_dict() for spec in specs])

    @event("Revised")
    def _revised(self, fields: list[dict[str, Any]]) -> None:
        self.field_dicts = fields

    def validated(self, data: dict[str, Any]) -> dict[str, Any]:
        """An occurrence's data checked against this kind, faults reported under `data`."""
        try:
            return validate_data(self.fields, data)
        except DataInvalid as exc:
            raise DataInvalid(
                [FieldError(("data", *e.path), e.message) for e in exc.errors]
            ) from None

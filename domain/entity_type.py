"""EntityType: a tenant-defined kind of record with a versioned list of typed fields."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, InvalidInput
from domain.fields import DataInvalid, FieldSpec, check_schema
from domain.ids import entity_type_id_for
from domain.names import clean_name

TYPE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9 _-]{0,62}$")


def parse_fields(
    raw: list[dict[str, Any]], importance: str | None, location: str | None = None
) -> list[FieldSpec]:
    """Turn raw field dicts into checked specs; every fault is reported with its path."""
    try:
        fields = [FieldSpec.from_dict(item) for item in raw]
    except (TypeError, ValueError, KeyError) as exc:
        raise InvalidInput(f"malformed field definition: {exc}", ("fields",)) from exc
    check_schema(fields, importance, location)
    return fields


class EntityType(Aggregate):
    class Defined(Aggregate.Created):
        """v1 had no `location_field` (v2: the geo_point field that is an entity's location)."""

        class_version = 2
        tenant_id: UUID
        name: str
        description: str
        fields: list[dict[str, Any]]
        search_importance: str | None
        location_field: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["location_field"] = None

    class SchemaRevised(Aggregate.Event):
        """v1 had no `location_field`, as Defined."""

        class_version = 2
        fields: list[dict[str, Any]]
        search_importance: str | None
        location_field: str | None
        schema_version: int

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["location_field"] = None

    location_field: str | None = None
    """The class default serves snapshots taken before types had a location field."""

    @staticmethod
    def create_id(tenant_id: UUID, name: str) -> UUID:
        return entity_type_id_for(tenant_id, name)

    @event(Defined)
    def __init__(
        self,
        tenant_id: UUID,
        name: str,
        description: str,
        fields: list[dict[str, Any]],
        search_importance: str | None,
        location_field: str | None,
    ) -> None:
        self.tenant_id = tenant_id
        self.name = name
        self.description = description
        self.field_dicts = fields
        self.search_importance = search_importance
        self.location_field = location_field
        self.schema_version = 1
        self.retired = False

    @classmethod
    def define(
        cls,
        tenant_id: UUID,
        name: str,
        fields: list[dict[str, Any]],
        description: str = "",
        search_importance: str | None = None,
        location_field: str | None = None,
    ) -> EntityType:
        name = clean_name(name, max_length=63)
        if not TYPE_NAME.match(name):
            raise InvalidInput(
                "letters, digits, space, '_' or '-', starting with a letter", ("name",)
            )
        specs = parse_fields(fields, search_importance, location_field)
        return cls(
            tenant_id=tenant_id,
            name=name,
            description=description.strip(),
            fields=[spec.to_dict() for spec in specs],
            search_importance=search_importance,
            location_field=location_field,
        )

    @property
    def fields(self) -> list[FieldSpec]:
        # An entity command reads the fields several times: they are parsed once per loaded
        # type, and again only once a revision has replaced the dicts they came from.
        parsed: tuple[list[dict[str, Any]], tuple[FieldSpec, ...]] | None = self.__dict__.get(
            "_parsed_fields"
        )
        if parsed is None or parsed[0] is not self.field_dicts:
            parsed = (self.field_dicts, tuple(FieldSpec.from_dict(f) for f in self.field_dicts))
            self.__dict__["_parsed_fields"] = parsed
        return list(parsed[1])

    def revise(
        self,
        fields: list[dict[str, Any]],
        search_importance: str | None,
        location_field: str | None = None,
    ) -> None:
        """A schema change is a new schema version; entities keep the one they were saved with."""
        self._require_active()
        specs = parse_fields(fields, search_importance, location_field)
        self._revised(
            [spec.to_dict() for spec in specs],
            search_importance,
            location_field,
            self.schema_version + 1,
        )

    @event(SchemaRevised)
    def _revised(
        self,
        fields: list[dict[str, Any]],
        search_importance: str | None,
        location_field: str | None,
        schema_version: int,
    ) -> None:
        self.field_dicts = fields
        self.search_importance = search_importance
        self.location_field = location_field
        self.schema_version = schema_version

    def retire(self) -> None:
        self._require_active()
        self._retired()

    @event("Retired")
    def _retired(self) -> None:
        self.retired = True

    def _require_active(self) -> None:
        if self.retired:
            raise Conflict(f"entity type {self.name!r} is retired")


__all__ = ["DataInvalid", "EntityType", "parse_fields"]

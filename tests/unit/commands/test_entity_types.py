"""Entity type (schema) commands in memory: define, revise, retire."""

from __future__ import annotations

from uuid import uuid4

import pytest

from commands.auth import Forbidden
from domain.entity_type import EntityType
from domain.errors import Conflict, InvalidInput, NotFound
from domain.fields import DataInvalid
from domain.tenant import Tenant

ACME = Tenant.create_id("acme")
FIELDS = [
    {"name": "code", "type": "text", "required": True, "unique": True},
    {"name": "rank", "type": "integer", "constraints": {"min": 0}},
]


def defined(handle, name="Site", fields=FIELDS) -> str:
    return str(handle.given("define-entity-type", name=name, fields=fields).id)


def paths(refused) -> list[tuple[str | int, ...]]:
    return [error.path for error in refused.value.errors]


def test_an_admin_defines_an_entity_type(handle):
    recorded = handle(
        "define-entity-type",
        as_role="admin",
        name=" Site ",
        description=" Places we inspect ",
        fields=FIELDS,
        search_importance="rank",
    )
    assert handle.then == ["EntityType.Defined"]
    assert (recorded.id, recorded.version, recorded.position) == (
        EntityType.create_id(ACME, "Site"),
        1,
        2,
    )
    site = handle.load(EntityType, recorded.id)
    assert (site.name, site.description, site.search_importance) == (
        "Site",
        "Places we inspect",
        "rank",
    )
    assert (site.schema_version, site.retired, site.tenant_id) == (1, False, ACME)
    assert [(f.name, f.type, f.required, f.unique) for f in site.fields] == [
        ("code", "text", True, True),
        ("rank", "integer", False, False),
    ]


def test_stored_field_definitions_are_complete(handle):
    handle(
        "define-entity-type", as_role="admin", name="Site", fields=[{"name": "t", "type": "text"}]
    )
    assert handle.events[0].data["fields"] == [
        {
            "name": "t",
            "type": "text",
            "label": None,
            "required": False,
            "default": None,
            "unique": False,
            "searchable": None,
            "constraints": {},
        }
    ]


def test_a_location_field_names_a_geo_point_field(handle):
    fields = [{"name": "code", "type": "text"}, {"name": "spot", "type": "geo_point"}]
    recorded = handle(
        "define-entity-type", as_role="admin", name="Site", fields=fields, location_field="spot"
    )
    assert handle.load(EntityType, recorded.id).location_field == "spot"


SCHEMA_COMMANDS = [
    ("define-entity-type", False),
    ("revise-entity-type", True),
    ("retire-entity-type", True),
]


@pytest.mark.parametrize("role", ["editor", "automation", "viewer", "platform"])
@pytest.mark.parametrize(("command", "needs_type"), SCHEMA_COMMANDS)
def test_only_an_admin_may_change_the_schema(handle, role, command, needs_type):
    body = {"name": "Room", "fields": FIELDS} if command == "define-entity-type" else {}
    if needs_type:
        body["entity_type_id"] = defined(handle)
    if command == "revise-entity-type":
        body["fields"] = FIELDS
    with pytest.raises(Forbidden, match="schema:write"):
        handle(command, as_role=role, **body)
    assert handle.then == []


@pytest.mark.parametrize("name", ["Site", "site", " SITE "])
def test_a_taken_name_is_a_conflict_whatever_its_case_and_spaces(handle, name):
    defined(handle, "Site")
    with pytest.raises(Conflict, match="is already taken") as refused:
        handle("define-entity-type", as_role="admin", name=name, fields=FIELDS)
    assert refused.value.path == ("name",)
    assert handle.then == []


def test_another_tenant_may_use_the_same_name(handle):
    acme_site = defined(handle, "Site")
    handle.given("create-tenant", as_role="platform", slug="globex", name="Globex")
    recorded = handle(
        "define-entity-type", as_role="admin", tenant="globex", name="Site", fields=FIELDS
    )
    assert handle.then == ["EntityType.Defined"]
    assert str(recorded.id) != acme_site
    assert handle.load(EntityType, recorded.id).tenant_id == Tenant.create_id("globex")


def test_a_retired_types_name_stays_taken(handle):
    type_id = defined(handle, "Site")
    handle.given("retire-entity-type", entity_type_id=type_id)
    with pytest.raises(Conflict, match="is already taken") as refused:
        handle("define-entity-type", as_role="admin", name="Site", fields=FIELDS)
    assert refused.value.path == ("name",)
    assert handle.then == []


@pytest.mark.parametrize("name", ["1Site", "Site!", "_site", "", "   ", "S" * 64])
def test_a_malformed_name_is_refused(handle, name):
    with pytest.raises(InvalidInput) as refused:
        handle("define-entity-type", as_role="admin", name=name, fields=FIELDS)
    assert refused.value.path == ("name",)
    assert handle.then == []


def test_every_faulty_field_is_reported_with_its_path(handle):
    fields = [
        {"name": "code", "type": "text"},
        {"name": "code", "type": "colour"},
        {"name": "Flag", "type": "boolean", "unique": True},
    ]
    with pytest.raises(DataInvalid) as refused:
        handle("define-entity-type", as_role="admin", name="Site", fields=fields)
    assert paths(refused) == [
        ("fields", 1, "name"),
        ("fields", 1, "type"),
        ("fields", 2, "name"),
        ("fields", 2, "unique"),
    ]
    assert handle.then == []


@pytest.mark.parametrize(
    ("field", "path"),
    [
        ({"type": "integer", "default": "ten"}, ("default",)),
        ({"type": "integer", "searchable": "A"}, ("searchable",)),
        ({"type": "text", "searchable": "D"}, ("searchable",)),
        ({"type": "text", "constraints": {"values": ["a"]}}, ("constraints", "values")),
        (
            {"type": "text", "constraints": {"min_length": 5, "max_length": 2}},
            ("constraints", "min_length"),
        ),
        ({"type": "enum"}, ("constraints", "values")),
        ({"type": "enum", "constraints": {"values": ["a", "a"]}}, ("constraints", "values")),
        ({"type": "long_text", "unique": True}, ("unique",)),
        (
            {"type": "reference", "constraints": {"entity_type_id": "site"}},
            ("constraints", "entity_type_id"),
        ),
    ],
)
def test_a_field_definition_fault_is_reported_at_its_path(handle, field, path):
    with pytest.raises(DataInvalid) as refused:
        handle("define-entity-type", as_role="admin", name="Site", fields=[{"name": "f", **field}])
    assert paths(refused) == [("fields", 0, *path)]
    assert handle.then == []


def test_a_misspelt_key_in_a_field_definition_is_refused(handle):
    fields = [{"name": "code", "type": "text", "requried": True}]
    with pytest.raises(InvalidInput, match="requried: unknown key") as refused:
        handle("define-entity-type", as_role="admin", name="Site", fields=fields)
    assert refused.value.path == ("fields",)
    assert handle.then == []


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("search_importance", "code"),
        ("search_importance", "missing"),
        ("location_field", "rank"),
        ("location_field", "missing"),
    ],
)
def test_search_importance_and_location_must_name_a_fitting_field(handle, option, value):
    with pytest.raises(DataInvalid) as refused:
        handle("define-entity-type", as_role="admin", name="Site", fields=FIELDS, **{option: value})
    assert paths(refused) == [(option,)]
    assert handle.then == []


def test_revising_makes_a_new_schema_version(handle):
    type_id = defined(handle)
    fields = [*FIELDS, {"name": "spot", "type": "geo_point"}]
    recorded = handle(
        "revise-entity-type",
        as_role="admin",
        entity_type_id=type_id,
        fields=fields,
        location_field="spot",
        expected_version=1,
    )
    assert handle.then == ["EntityType.SchemaRevised"]
    assert (str(recorded.id), recorded.version) == (type_id, 2)
    assert handle.events[0].data["schema_version"] == 2
    site = handle.load(EntityType, type_id)
    assert (site.schema_version, site.location_field, site.search_importance) == (2, "spot", None)
    assert [f.name for f in site.fields] == ["code", "rank", "spot"]
    assert site.name == "Site"


def test_an_invalid_revision_is_refused_and_the_schema_is_kept(handle):
    type_id = defined(handle)
    fields = [{"name": "code", "type": "text"}, {"name": "when", "type": "time"}]
    with pytest.raises(DataInvalid) as refused:
        handle("revise-entity-type", as_role="admin", entity_type_id=type_id, fields=fields)
    assert paths(refused) == [("fields", 1, "type")]
    assert handle.then == []
    assert handle.load(EntityType, type_id).schema_version == 1


@pytest.mark.parametrize("command", ["revise-entity-type", "retire-entity-type"])
def test_a_stale_expected_version_is_a_conflict(handle, command):
    type_id = defined(handle)
    handle.given("revise-entity-type", entity_type_id=type_id, fields=FIELDS)
    body = {"fields": FIELDS} if command == "revise-entity-type" else {}
    with pytest.raises(Conflict, match="expected version 1, but it is at 2") as refused:
        handle(command, as_role="admin", entity_type_id=type_id, expected_version=1, **body)
    assert refused.value.path == ("expected_version",)
    assert handle.then == []


@pytest.mark.parametrize("command", ["revise-entity-type", "retire-entity-type"])
def test_another_tenants_type_is_not_found(handle, command):
    type_id = defined(handle)
    handle.given("create-tenant", as_role="platform", slug="globex", name="Globex")
    body = {"fields": FIELDS} if command == "revise-entity-type" else {}
    with pytest.raises(NotFound, match="no entity type with this id") as refused:
        handle(command, as_role="admin", tenant="globex", entity_type_id=type_id, **body)
    assert refused.value.path == ("entity_type_id",)
    assert handle.then == []
    assert handle.load(EntityType, type_id).version == 1


@pytest.mark.parametrize("command", ["revise-entity-type", "retire-entity-type"])
@pytest.mark.parametrize("missing", [uuid4(), ACME], ids=["unknown", "a tenant's id"])
def test_an_id_that_names_no_entity_type_is_not_found(handle, command, missing):
    body = {"fields": FIELDS} if command == "revise-entity-type" else {}
    with pytest.raises(NotFound, match="no entity type with this id") as refused:
        handle(command, as_role="admin", entity_type_id=missing, **body)
    assert refused.value.path == ("entity_type_id",)
    assert handle.then == []


def test_retiring_a_type_stops_new_entities(handle):
    type_id = defined(handle)
    recorded = handle("retire-entity-type", as_role="admin", entity_type_id=type_id)
    assert handle.then == ["EntityType.Retired"]
    assert (str(recorded.id), recorded.version) == (type_id, 2)
    assert handle.load(EntityType, type_id).retired is True
    with pytest.raises(Conflict, match="entity type 'Site' is retired") as refused:
        handle("create-entity", entity_type_id=type_id, data={"code": "S-1"})
    assert refused.value.path == ("entity_type_id",)
    assert handle.then == ["EntityType.Retired"]


@pytest.mark.parametrize("command", ["revise-entity-type", "retire-entity-type"])
def test_a_retired_type_is_neither_revised_nor_retired_again(handle, command):
    type_id = defined(handle)
    handle.given("retire-entity-type", entity_type_id=type_id)
    body = {"fields": FIELDS} if command == "revise-entity-type" else {}
    with pytest.raises(Conflict, match="entity type 'Site' is retired"):
        handle(command, as_role="admin", entity_type_id=type_id, **body)
    assert handle.then == []

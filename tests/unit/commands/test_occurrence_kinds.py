"""Occurrence kind commands in memory: define (a unique name per tenant) and revise the fields."""

from __future__ import annotations

from uuid import uuid4

import pytest

from commands.auth import Forbidden
from domain.errors import Conflict, InvalidInput, NotFound
from domain.fields import DataInvalid
from domain.occurrence_kind import OccurrenceKind
from domain.tenant import Tenant

ACME = Tenant.create_id("acme")
SEVERITY = {"name": "severity", "type": "integer", "required": True}
SUMMARY = {"name": "summary", "type": "text"}


def defined(handle, name="Incident", fields=(SEVERITY,)) -> str:
    return str(handle.given("define-occurrence-kind", name=name, fields=list(fields)).id)


def paths(refused: pytest.ExceptionInfo[DataInvalid]) -> list[tuple[str | int, ...]]:
    return [error.path for error in refused.value.errors]


def test_a_kind_is_defined_under_an_id_derived_from_its_name(handle):
    answer = handle(
        "define-occurrence-kind",
        as_role="admin",
        name=" Incident ",
        description=" On site ",
        fields=[SEVERITY, SUMMARY],
    )
    assert handle.then == ["OccurrenceKind.Defined"]
    assert (answer.id, answer.version, answer.position) == (
        OccurrenceKind.create_id(ACME, "incident"),
        1,
        2,
    )
    kind = handle.load(OccurrenceKind, answer.id)
    assert (kind.name, kind.description) == ("Incident", "On site")
    assert [(f.name, f.type, f.required) for f in kind.fields] == [
        ("severity", "integer", True),
        ("summary", "text", False),
    ]


def test_an_editor_may_not_define_a_kind(handle):
    with pytest.raises(Forbidden, match="schema:write"):
        handle("define-occurrence-kind", name="Incident", fields=[SEVERITY])
    assert handle.then == []


def test_a_kind_in_a_tenant_that_was_never_created_is_refused(handle):
    with pytest.raises(NotFound, match="tenant does not exist"):
        handle("define-occurrence-kind", as_role="admin", tenant="nowhere", name="A", fields=[])
    assert handle.then == []


@pytest.mark.parametrize("name", ["Incident", "incident", "  INCIDENT "])
def test_a_kind_defined_twice_is_a_conflict_whatever_the_case(handle, name):
    defined(handle)
    with pytest.raises(Conflict, match="is already taken") as refused:
        handle("define-occurrence-kind", as_role="admin", name=name, fields=[SUMMARY])
    assert refused.value.path == ("name",)
    assert handle.then == []
    assert handle.load(OccurrenceKind, OccurrenceKind.create_id(ACME, name)).name == "Incident"


def test_the_same_name_is_free_in_another_tenant(handle):
    defined(handle)
    handle.given("create-tenant", as_role="platform", slug="globex", name="Globex")
    answer = handle(
        "define-occurrence-kind", as_role="admin", tenant="globex", name="Incident", fields=[]
    )
    assert handle.then == ["OccurrenceKind.Defined"]
    assert answer.id != OccurrenceKind.create_id(ACME, "Incident")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "1-63 characters"),
        ("k" * 64, "1-63 characters"),
        ("9 lives", "starting with a letter"),
        ("Incident!", "starting with a letter"),
    ],
)
def test_a_name_that_is_not_a_kind_name_is_refused(handle, name, message):
    with pytest.raises(InvalidInput, match=message) as refused:
        handle("define-occurrence-kind", as_role="admin", name=name, fields=[])
    assert refused.value.path == ("name",)
    assert handle.then == []


def test_every_fault_in_the_fields_is_reported_with_its_path(handle):
    fields = [
        {"name": "Severity", "type": "integer"},
        {"name": "summary", "type": "txt"},
        {"name": "level", "type": "integer", "constraints": {"values": ["a"]}},
        {"name": "level", "type": "integer"},
    ]
    with pytest.raises(DataInvalid) as refused:
        handle("define-occurrence-kind", as_role="admin", name="Incident", fields=fields)
    assert paths(refused) == [
        ("fields", 0, "name"),
        ("fields", 1, "type"),
        ("fields", 2, "constraints", "values"),
        ("fields", 3, "name"),
    ]
    assert handle.then == []


def test_a_malformed_field_definition_is_refused(handle):
    with pytest.raises(InvalidInput, match="requried") as refused:
        handle(
            "define-occurrence-kind",
            as_role="admin",
            name="Incident",
            fields=[{"name": "severity", "type": "integer", "requried": True}],
        )
    assert refused.value.path == ("fields",)
    assert handle.then == []


def test_a_default_that_breaks_its_own_field_is_refused(handle):
    bad = {"name": "severity", "type": "integer", "default": "high"}
    with pytest.raises(DataInvalid) as refused:
        handle("define-occurrence-kind", as_role="admin", name="Incident", fields=[bad])
    assert paths(refused) == [("fields", 0, "default")]
    assert handle.then == []


def test_a_definition_that_is_refused_leaves_the_name_free(handle):
    with pytest.raises(DataInvalid):
        handle(
            "define-occurrence-kind",
            as_role="admin",
            name="Incident",
            fields=[{"name": "x", "type": "?"}],
        )
    handle("define-occurrence-kind", as_role="admin", name="Incident", fields=[SEVERITY])
    assert handle.then == ["OccurrenceKind.Defined"]


def test_an_idempotent_retry_of_a_definition_answers_the_first_result_not_a_conflict(handle):
    body = {"as_role": "admin", "name": "Incident", "fields": [SEVERITY]}
    first = handle("define-occurrence-kind", idempotency_key="k1", **body)
    again = handle("define-occurrence-kind", idempotency_key="k1", **body)
    assert again == first
    assert handle.then == ["OccurrenceKind.Defined", "CommandReceipt.Issued"]


def test_revising_replaces_the_fields(handle):
    kind_id = defined(handle)
    answer = handle(
        "revise-occurrence-kind",
        as_role="admin",
        occurrence_kind_id=kind_id,
        fields=[SUMMARY],
        expected_version=1,
    )
    assert handle.then == ["OccurrenceKind.Revised"]
    assert answer.version == 2
    assert [f.name for f in handle.load(OccurrenceKind, kind_id).fields] == ["summary"]


def test_an_editor_may_not_revise_a_kind(handle):
    kind_id = defined(handle)
    with pytest.raises(Forbidden):
        handle("revise-occurrence-kind", occurrence_kind_id=kind_id, fields=[SUMMARY])
    assert handle.then == []


def test_revising_with_faulty_fields_is_refused_and_the_kind_is_unchanged(handle):
    kind_id = defined(handle)
    with pytest.raises(DataInvalid) as refused:
        handle(
            "revise-occurrence-kind",
            as_role="admin",
            occurrence_kind_id=kind_id,
            fields=[SUMMARY, {"name": "summary", "type": "text", "searchable": "Z"}],
        )
    assert paths(refused) == [("fields", 1, "name"), ("fields", 1, "searchable")]
    assert handle.then == []
    assert [f.name for f in handle.load(OccurrenceKind, kind_id).fields] == ["severity"]


def test_revising_with_a_stale_expected_version_is_a_conflict(handle):
    kind_id = defined(handle)
    handle.given("revise-occurrence-kind", occurrence_kind_id=kind_id, fields=[SUMMARY])
    with pytest.raises(Conflict, match="expected version 1, but it is at 2") as refused:
        handle(
            "revise-occurrence-kind",
            as_role="admin",
            occurrence_kind_id=kind_id,
            fields=[SEVERITY],
            expected_version=1,
        )
    assert refused.value.path == ("expected_version",)
    assert handle.then == []


def test_revising_a_missing_kind_is_not_found(handle):
    with pytest.raises(NotFound, match="no occurrence kind with this id") as refused:
        handle("revise-occurrence-kind", as_role="admin", occurrence_kind_id=uuid4(), fields=[])
    assert refused.value.path == ("occurrence_kind_id",)
    assert handle.then == []


def test_revising_another_tenants_kind_is_not_found(handle):
    kind_id = defined(handle)
    handle.given("create-tenant", as_role="platform", slug="globex", name="Globex")
    with pytest.raises(NotFound, match="no occurrence kind with this id") as refused:
        handle(
            "revise-occurrence-kind",
            as_role="admin",
            tenant="globex",
            occurrence_kind_id=kind_id,
            fields=[],
        )
    assert refused.value.path == ("occurrence_kind_id",)
    assert handle.then == []
    assert [f.name for f in handle.load(OccurrenceKind, kind_id).fields] == ["severity"]


def test_revising_an_entity_type_by_its_id_is_not_found(handle):
    site = handle.given("define-entity-type", name="Site", fields=[SUMMARY]).id
    with pytest.raises(NotFound, match="no occurrence kind with this id"):
        handle("revise-occurrence-kind", as_role="admin", occurrence_kind_id=site, fields=[])
    assert handle.then == []

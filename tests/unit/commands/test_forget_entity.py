"""Personal entity fields in memory: sealed in events, erased by forget-entity, once."""

from __future__ import annotations

import pytest

from commands.auth import Forbidden
from domain.entity import Entity
from domain.errors import Conflict, InvalidInput
from domain.fields import DataInvalid

FIELDS = [
    {"name": "title", "type": "text", "required": True},
    {"name": "full_name", "type": "text", "required": True, "personal": True},
    {"name": "birthday", "type": "date", "personal": True},
    {"name": "score", "type": "integer"},
]


def patient_type(handle) -> str:
    return str(handle.given("define-entity-type", name="Patient", fields=FIELDS).id)


def patient(handle, type_id: str) -> str:
    data = {"title": "P-1", "full_name": "Ann Lovelace", "birthday": "1815-12-10", "score": 3}
    return str(handle.given("create-entity", entity_type_id=type_id, data=data).id)


def test_personal_values_are_sealed_in_events_and_read_in_full(handle):
    entity = patient(handle, patient_type(handle))
    handle("update-entity", entity_id=entity, data={"full_name": "Ann King", "score": 4})
    assert not any(b"Ann" in s or b"1815" in s for s in handle.store.stored_states)
    assert handle.events[0].data["changes"] == {"full_name": "Ann King", "score": 4}
    loaded = handle.load(Entity, entity)
    assert loaded.data["full_name"] == "Ann King"
    assert loaded.data["birthday"] == "1815-12-10"


def test_forgetting_erases_the_personal_fields_only(handle):
    entity = patient(handle, patient_type(handle))
    handle("forget-entity", as_role="admin", entity_id=entity)
    assert handle.then == ["Entity.Forgotten"]
    assert handle.events[0].data["fields"] == ["birthday", "full_name"]
    forgotten = handle.load(Entity, entity)
    assert forgotten.forgotten
    assert forgotten.data == {"title": "P-1", "score": 3}


def test_a_forgotten_entity_keeps_its_other_fields_changeable_but_not_its_personal_ones(handle):
    entity = patient(handle, patient_type(handle))
    handle.given("forget-entity", entity_id=entity)
    handle("update-entity", entity_id=entity, data={"score": 5})
    assert handle.then == ["Entity.Updated"]
    with pytest.raises(Conflict, match="erased") as refused:
        handle("update-entity", entity_id=entity, data={"full_name": "Ann"})
    assert refused.value.path == ("data", "full_name")
    again = handle("forget-entity", as_role="admin", entity_id=entity)
    assert again.version == 3
    assert handle.then == ["Entity.Updated"]


def test_an_entity_without_personal_fields_cannot_be_forgotten(handle):
    type_id = str(
        handle.given("define-entity-type", name="Site", fields=[{"name": "t", "type": "text"}]).id
    )
    site = str(handle.given("create-entity", entity_type_id=type_id, data={"t": "x"}).id)
    with pytest.raises(InvalidInput, match="no personal fields"):
        handle("forget-entity", as_role="admin", entity_id=site)
    assert handle.then == []


def test_only_admins_may_forget_an_entity(handle):
    entity = patient(handle, patient_type(handle))
    with pytest.raises(Forbidden, match="data:erase"):
        handle("forget-entity", entity_id=entity)
    assert handle.then == []


@pytest.mark.parametrize(
    ("option", "path"),
    [
        ({"unique": True}, ("fields", 0, "personal")),
        ({"searchable": "A"}, ("fields", 0, "personal")),
        ({"personal": "yes"}, ("fields",)),
    ],
)
def test_a_personal_field_is_neither_unique_nor_searchable(handle, option, path):
    field = {"name": "full_name", "type": "text", "personal": True} | option
    with pytest.raises((DataInvalid, InvalidInput)) as refused:
        handle("define-entity-type", as_role="admin", name="Patient", fields=[field])
    found = (
        [e.path for e in refused.value.errors]
        if isinstance(refused.value, DataInvalid)
        else [refused.value.path]
    )
    assert path in found
    assert handle.then == []


def test_a_personal_field_does_not_rank_search(handle):
    fields = [{"name": "weight", "type": "number", "personal": True}]
    with pytest.raises(DataInvalid) as refused:
        handle(
            "define-entity-type",
            as_role="admin",
            name="Patient",
            fields=fields,
            search_importance="weight",
        )
    assert [e.path for e in refused.value.errors] == [("search_importance",)]

"""Entity commands in memory: create, update, archive — validated data, references, locations
and unique values claimed, released and taken again."""

from __future__ import annotations

from uuid import uuid4

import pytest

from commands.auth import Forbidden
from domain.entity import Entity
from domain.errors import Conflict, InvalidInput, NotFound
from domain.fields import DataInvalid

FIELDS = [
    {"name": "code", "type": "text", "required": True, "unique": True},
    {"name": "email", "type": "email", "unique": True},
    {"name": "rank", "type": "integer"},
    {"name": "note", "type": "text"},
]


def site_type(handle, name="Site", fields=FIELDS, **options) -> str:
    return str(handle.given("define-entity-type", name=name, fields=fields, **options).id)


def created(handle, type_id, **data) -> str:
    return str(handle.given("create-entity", entity_type_id=type_id, data=data).id)


def paths(refused) -> list[tuple[str | int, ...]]:
    return [error.path for error in refused.value.errors]


def globex(handle) -> None:
    handle.given("create-tenant", as_role="platform", slug="globex", name="Globex")


def test_an_entity_is_created_with_its_validated_data_and_its_claims(handle):
    type_id = site_type(handle)
    recorded = handle(
        "create-entity", entity_type_id=type_id, data={"code": "S-1", "email": "Ann@Example.COM"}
    )
    assert handle.then == ["Entity.Created", "UniqueClaim.Claimed", "UniqueClaim.Claimed"]
    assert recorded.version == 1
    assert recorded.position == handle.events[-1].position
    assert handle.events[0].originator_id == recorded.id
    entity = handle.load(Entity, recorded.id)
    assert entity.data == {"code": "S-1", "email": "Ann@example.com"}
    assert (str(entity.entity_type_id), entity.schema_version) == (type_id, 1)
    assert (entity.location, entity.archived) == (None, False)
    claimed = {event.data["value"]: event.data["owner_id"] for event in handle.events[1:]}
    assert claimed == {"s-1": str(recorded.id), "ann@example.com": str(recorded.id)}


def test_a_default_fills_a_field_left_out(handle):
    fields = [{"name": "code", "type": "text"}, {"name": "state", "type": "text", "default": "new"}]
    type_id = site_type(handle, fields=fields)
    recorded = handle("create-entity", entity_type_id=type_id, data={"code": "S-1"})
    assert handle.load(Entity, recorded.id).data == {"code": "S-1", "state": "new"}
    assert handle.then == ["Entity.Created"]


@pytest.mark.parametrize("role", ["viewer", "automation", "platform"])
@pytest.mark.parametrize("command", ["create-entity", "update-entity", "archive-entity"])
def test_only_editors_and_admins_write_entities(handle, role, command):
    type_id = site_type(handle)
    body = (
        {"entity_type_id": type_id, "data": {"code": "S-2"}}
        if command == "create-entity"
        else {"entity_id": created(handle, type_id, code="S-1")}
    )
    with pytest.raises(Forbidden, match="data:write"):
        handle(command, as_role=role, **body)
    assert handle.then == []


def test_an_admin_may_write_entities_too(handle):
    type_id = site_type(handle)
    handle("create-entity", as_role="admin", entity_type_id=type_id, data={"code": "S-1"})
    assert handle.then == ["Entity.Created", "UniqueClaim.Claimed"]


def test_invalid_data_is_reported_field_by_field_under_data(handle):
    type_id = site_type(handle)
    data = {"code": "S-1", "email": "ann", "rank": "high", "colour": "red"}
    with pytest.raises(DataInvalid) as refused:
        handle("create-entity", entity_type_id=type_id, data=data)
    assert sorted(paths(refused)) == [
        ("data", "colour"),
        ("data", "email"),
        ("data", "rank"),
    ]
    assert handle.then == []


def test_a_required_field_is_required_on_create_and_update(handle):
    type_id = site_type(handle)
    with pytest.raises(DataInvalid, match="is required") as refused:
        handle("create-entity", entity_type_id=type_id, data={"note": "x"})
    assert paths(refused) == [("data", "code")]
    entity_id = created(handle, type_id, code="S-1")
    with pytest.raises(DataInvalid, match="is required") as refused:
        handle("update-entity", entity_id=entity_id, data={"code": None})
    assert paths(refused) == [("data", "code")]
    assert handle.then == []
    assert handle.load(Entity, entity_id).data["code"] == "S-1"


@pytest.mark.parametrize(
    ("field", "value"),
    [("code", "S-1"), ("code", "s-1"), ("code", " S-1 "), ("email", "ANN@example.com")],
)
def test_a_unique_value_is_taken_once_within_the_type(handle, field, value):
    type_id = site_type(handle)
    created(handle, type_id, code="S-1", email="ann@example.com")
    data = {"code": "S-2", field: value}
    with pytest.raises(Conflict, match="is already taken") as refused:
        handle("create-entity", entity_type_id=type_id, data=data)
    assert refused.value.path == ("data", field)
    assert handle.then == []


def test_equal_numbers_are_the_same_unique_value(handle):
    type_id = site_type(handle, fields=[{"name": "number", "type": "integer", "unique": True}])
    created(handle, type_id, number=7)
    with pytest.raises(Conflict) as refused:
        handle("create-entity", entity_type_id=type_id, data={"number": 7.0})
    assert refused.value.path == ("data", "number")
    assert handle.then == []


def test_an_optional_unique_field_left_empty_claims_nothing(handle):
    type_id = site_type(handle)
    created(handle, type_id, code="S-1")
    handle("create-entity", entity_type_id=type_id, data={"code": "S-2"})
    assert handle.then == ["Entity.Created", "UniqueClaim.Claimed"]


def test_the_same_value_is_free_in_another_type(handle):
    created(handle, site_type(handle, "Site"), code="S-1")
    room_type = site_type(handle, "Room")
    handle("create-entity", entity_type_id=room_type, data={"code": "S-1"})
    assert handle.then == ["Entity.Created", "UniqueClaim.Claimed"]


def test_a_value_freed_by_archiving_can_be_taken_again(handle):
    type_id = site_type(handle)
    first = created(handle, type_id, code="S-1", email="ann@example.com")
    handle("archive-entity", entity_id=first)
    assert handle.then == ["Entity.Archived", "UniqueClaim.Released", "UniqueClaim.Released"]
    second = handle("create-entity", entity_type_id=type_id, data={"code": "s-1"})
    assert handle.then[3:] == ["Entity.Created", "UniqueClaim.Reclaimed"]
    assert handle.events[-1].data["owner_id"] == str(second.id)
    with pytest.raises(Conflict) as refused:
        handle("create-entity", entity_type_id=type_id, data={"code": "S-1"})
    assert refused.value.path == ("data", "code")
    assert len(handle.then) == 5


def test_a_value_freed_by_an_update_can_be_taken_again(handle):
    type_id = site_type(handle)
    entity_id = created(handle, type_id, code="S-1")
    recorded = handle("update-entity", entity_id=entity_id, data={"code": "S-2"})
    assert handle.then == ["Entity.Updated", "UniqueClaim.Released", "UniqueClaim.Claimed"]
    assert (str(recorded.id), recorded.version) == (entity_id, 2)
    assert handle.load(Entity, entity_id).data["code"] == "S-2"
    handle("create-entity", entity_type_id=type_id, data={"code": "S-1"})
    assert handle.then[3:] == ["Entity.Created", "UniqueClaim.Reclaimed"]
    with pytest.raises(Conflict) as refused:
        handle("create-entity", entity_type_id=type_id, data={"code": "S-2"})
    assert refused.value.path == ("data", "code")
    assert len(handle.then) == 5


def test_clearing_a_unique_field_frees_its_value(handle):
    type_id = site_type(handle)
    entity_id = created(handle, type_id, code="S-1", email="ann@example.com")
    handle("update-entity", entity_id=entity_id, data={"email": None})
    assert handle.then == ["Entity.Updated", "UniqueClaim.Released"]
    assert handle.load(Entity, entity_id).data["email"] is None
    handle(
        "create-entity", entity_type_id=type_id, data={"code": "S-2", "email": "ann@example.com"}
    )
    assert handle.then[2:] == ["Entity.Created", "UniqueClaim.Claimed", "UniqueClaim.Reclaimed"]


def test_an_entity_may_take_back_its_own_freed_value(handle):
    type_id = site_type(handle)
    entity_id = created(handle, type_id, code="S-1")
    handle("update-entity", entity_id=entity_id, data={"code": "S-2"})
    handle("update-entity", entity_id=entity_id, data={"code": "S-1"})
    assert handle.then[3:] == ["Entity.Updated", "UniqueClaim.Released", "UniqueClaim.Reclaimed"]
    assert handle.load(Entity, entity_id).data["code"] == "S-1"


def test_an_update_to_a_value_another_entity_holds_is_refused(handle):
    type_id = site_type(handle)
    created(handle, type_id, code="S-1")
    second = created(handle, type_id, code="S-2")
    with pytest.raises(Conflict, match="'s-1' is already taken") as refused:
        handle("update-entity", entity_id=second, data={"code": "S-1", "note": "moved"})
    assert refused.value.path == ("data", "code")
    assert handle.then == []
    assert handle.load(Entity, second).data == {"code": "S-2"}


def test_changing_only_the_case_of_a_unique_value_keeps_its_claim(handle):
    type_id = site_type(handle)
    entity_id = created(handle, type_id, code="S-1")
    handle("update-entity", entity_id=entity_id, data={"code": "s-1"})
    assert handle.then == ["Entity.Updated"]
    assert handle.load(Entity, entity_id).data["code"] == "s-1"


def test_an_update_that_changes_nothing_stores_nothing(handle):
    type_id = site_type(handle)
    entity_id = created(handle, type_id, code="S-1", rank=3)
    recorded = handle("update-entity", entity_id=entity_id, data={"code": "S-1", "rank": 3.0})
    assert handle.then == []
    assert recorded.version == 1


def test_an_update_changes_only_the_fields_given(handle):
    type_id = site_type(handle)
    entity_id = created(handle, type_id, code="S-1", rank=3)
    recorded = handle(
        "update-entity", entity_id=entity_id, data={"note": "gate"}, expected_version=1
    )
    assert handle.then == ["Entity.Updated"]
    assert handle.events[0].data["changes"] == {"note": "gate"}
    assert recorded.version == 2
    assert handle.load(Entity, entity_id).data == {"code": "S-1", "rank": 3, "note": "gate"}


def test_an_update_is_validated_against_the_current_schema(handle):
    type_id = site_type(handle, fields=[{"name": "code", "type": "text"}])
    entity_id = created(handle, type_id, code="S-1")
    with pytest.raises(DataInvalid) as refused:
        handle("update-entity", entity_id=entity_id, data={"rank": 1})
    assert paths(refused) == [("data", "rank")]
    revised = [{"name": "code", "type": "text"}, {"name": "rank", "type": "integer"}]
    handle.given("revise-entity-type", entity_type_id=type_id, fields=revised)
    handle("update-entity", entity_id=entity_id, data={"rank": 1})
    assert handle.then == ["Entity.Updated"]
    entity = handle.load(Entity, entity_id)
    assert (entity.data, entity.schema_version) == ({"code": "S-1", "rank": 1}, 2)


def test_archiving_frees_a_value_claimed_before_the_field_stopped_being_unique(handle):
    unique = [{"name": "code", "type": "text", "unique": True}]
    type_id = site_type(handle, fields=unique)
    entity_id = created(handle, type_id, code="S-1")
    handle.given(
        "revise-entity-type", entity_type_id=type_id, fields=[{"name": "code", "type": "text"}]
    )
    handle.given("archive-entity", entity_id=entity_id)
    handle.given("revise-entity-type", entity_type_id=type_id, fields=unique)
    handle("create-entity", entity_type_id=type_id, data={"code": "S-1"})
    assert handle.then[0] == "Entity.Created"


def test_the_entity_type_must_be_one_of_the_tenant(handle):
    type_id = site_type(handle)
    entity_id = created(handle, type_id, code="S-1")
    globex(handle)
    attempts = [
        ("acme", uuid4()),
        ("acme", entity_id),
        ("globex", type_id),
    ]
    for tenant, wrong in attempts:
        with pytest.raises(NotFound, match="no entity type with this id") as refused:
            handle("create-entity", tenant=tenant, entity_type_id=wrong, data={"code": "S-2"})
        assert refused.value.path == ("entity_type_id",)
    assert handle.then == []


@pytest.mark.parametrize("command", ["update-entity", "archive-entity"])
def test_an_entity_of_another_tenant_or_none_is_not_found(handle, command):
    type_id = site_type(handle)
    entity_id = created(handle, type_id, code="S-1")
    globex(handle)
    for tenant, wrong in [("globex", entity_id), ("acme", uuid4()), ("acme", type_id)]:
        with pytest.raises(NotFound, match="no entity with this id") as refused:
            handle(command, tenant=tenant, entity_id=wrong)
        assert refused.value.path == ("entity_id",)
    assert handle.then == []
    assert handle.load(Entity, entity_id).version == 1


@pytest.mark.parametrize(
    ("command", "body"), [("update-entity", {"data": {"note": "x"}}), ("archive-entity", {})]
)
def test_a_stale_expected_version_is_a_conflict(handle, command, body):
    type_id = site_type(handle)
    entity_id = created(handle, type_id, code="S-1")
    handle.given("update-entity", entity_id=entity_id, data={"rank": 1})
    with pytest.raises(Conflict, match="expected version 1, but it is at 2") as refused:
        handle(command, entity_id=entity_id, expected_version=1, **body)
    assert refused.value.path == ("expected_version",)
    assert handle.then == []


def test_an_archived_entity_accepts_no_more_changes(handle):
    type_id = site_type(handle)
    entity_id = created(handle, type_id, code="S-1")
    recorded = handle("archive-entity", entity_id=entity_id)
    assert handle.then == ["Entity.Archived", "UniqueClaim.Released"]
    assert (str(recorded.id), recorded.version) == (entity_id, 2)
    assert handle.load(Entity, entity_id).archived is True
    with pytest.raises(Conflict, match="entity is archived"):
        handle("update-entity", entity_id=entity_id, data={"note": "x"})
    with pytest.raises(Conflict, match="already archived"):
        handle("archive-entity", entity_id=entity_id)
    assert len(handle.then) == 2


def test_entities_of_a_retired_type_can_still_be_updated_and_archived(handle):
    type_id = site_type(handle)
    entity_id = created(handle, type_id, code="S-1")
    handle.given("retire-entity-type", entity_type_id=type_id)
    handle("update-entity", entity_id=entity_id, data={"note": "last visit"})
    handle("archive-entity", entity_id=entity_id)
    assert handle.then == ["Entity.Updated", "Entity.Archived", "UniqueClaim.Released"]


CODE_ONLY = [{"name": "code", "type": "text"}]


def room_type(handle, site_type_id) -> str:
    fields = [
        {"name": "site", "type": "reference", "constraints": {"entity_type_id": site_type_id}}
    ]
    return site_type(handle, "Room", fields=fields)


def test_a_reference_names_an_entity_of_the_required_type(handle):
    sites = site_type(handle, fields=CODE_ONLY)
    site = created(handle, sites, code="S-1")
    rooms = room_type(handle, sites)
    recorded = handle("create-entity", entity_type_id=rooms, data={"site": site.upper()})
    assert handle.then == ["Entity.Created"]
    assert handle.load(Entity, recorded.id).data == {"site": site}


def test_a_reference_to_no_entity_of_the_tenant_is_not_found(handle):
    sites = site_type(handle, fields=CODE_ONLY)
    rooms = room_type(handle, sites)
    globex(handle)
    theirs = site_type(handle, fields=CODE_ONLY, tenant="globex")
    their_site = str(
        handle.given("create-entity", tenant="globex", entity_type_id=theirs, data={"code": "S"}).id
    )
    for wrong in [str(uuid4()), their_site, sites]:
        with pytest.raises(NotFound, match="no entity with this id") as refused:
            handle("create-entity", entity_type_id=rooms, data={"site": wrong})
        assert refused.value.path == ("data", "site")
    assert handle.then == []


def test_a_reference_to_an_entity_of_another_type_is_refused(handle):
    sites = site_type(handle, fields=CODE_ONLY)
    site = created(handle, sites, code="S-1")
    rooms = room_type(handle, sites)
    room = str(handle.given("create-entity", entity_type_id=rooms, data={"site": site}).id)
    with pytest.raises(InvalidInput, match="another type") as refused:
        handle("create-entity", entity_type_id=rooms, data={"site": room})
    assert refused.value.path == ("data", "site")
    with pytest.raises(InvalidInput, match="another type") as refused:
        handle("update-entity", entity_id=room, data={"site": room})
    assert refused.value.path == ("data", "site")
    assert handle.then == []


def test_a_malformed_reference_is_refused(handle):
    rooms = room_type(handle, site_type(handle, fields=CODE_ONLY))
    with pytest.raises(DataInvalid, match="must be a UUID") as refused:
        handle("create-entity", entity_type_id=rooms, data={"site": "S-1"})
    assert paths(refused) == [("data", "site")]
    assert handle.then == []


def test_a_location_is_set_and_cleared(handle):
    type_id = site_type(handle)
    recorded = handle(
        "create-entity",
        entity_type_id=type_id,
        data={"code": "S-1"},
        location={"lat": 48, "lon": 2.35},
    )
    assert handle.load(Entity, recorded.id).location == {"lat": 48.0, "lon": 2.35}
    handle("update-entity", entity_id=recorded.id, location={"lat": -33.9, "lon": 18.4})
    assert handle.load(Entity, recorded.id).location == {"lat": -33.9, "lon": 18.4}
    handle("update-entity", entity_id=recorded.id, clear_location=True)
    assert handle.load(Entity, recorded.id).location is None
    assert handle.then == [
        "Entity.Created",
        "UniqueClaim.Claimed",
        "Entity.Updated",
        "Entity.Updated",
    ]


@pytest.mark.parametrize(
    ("location", "path"),
    [
        ({"lat": 91, "lon": 0}, ("location", "lat")),
        ({"lat": 0, "lon": "east"}, ("location", "lon")),
        ({"lat": 0}, ("location",)),
        ({"lat": 0, "lon": 0, "alt": 3}, ("location",)),
    ],
)
def test_an_invalid_location_is_refused_with_its_path(handle, location, path):
    type_id = site_type(handle)
    with pytest.raises(InvalidInput) as refused:
        handle("create-entity", entity_type_id=type_id, data={"code": "S-1"}, location=location)
    assert refused.value.path == path
    entity_id = created(handle, type_id, code="S-2")
    with pytest.raises(InvalidInput) as refused:
        handle("update-entity", entity_id=entity_id, location=location)
    assert refused.value.path == path
    assert handle.then == []


def test_a_type_located_by_a_field_refuses_a_separate_location(handle):
    fields = [{"name": "code", "type": "text"}, {"name": "spot", "type": "geo_point"}]
    type_id = site_type(handle, fields=fields, location_field="spot")
    with pytest.raises(InvalidInput, match=r"set data\.spot instead") as refused:
        handle(
            "create-entity",
            entity_type_id=type_id,
            data={"code": "S"},
            location={"lat": 1, "lon": 2},
        )
    assert refused.value.path == ("location",)
    recorded = handle("create-entity", entity_type_id=type_id, data={"spot": {"lat": 1, "lon": 2}})
    assert handle.load(Entity, recorded.id).data == {"spot": {"lat": 1.0, "lon": 2.0}}
    with pytest.raises(InvalidInput) as refused:
        handle("update-entity", entity_id=recorded.id, clear_location=True)
    assert refused.value.path == ("location",)
    assert handle.then == ["Entity.Created"]

"""Participant commands in memory: register, update name and contact details."""

from __future__ import annotations

from uuid import uuid4

import pytest

from commands.auth import Forbidden
from domain.errors import Conflict, InvalidInput, NotFound
from domain.fields import DataInvalid
from domain.participant import Participant
from domain.tenant import Tenant

ACME = Tenant.create_id("acme")


def registered(handle, name="Ann", **contact) -> str:
    return str(handle.given("register-participant", name=name, **contact).id)


def paths(refused) -> list[tuple[str | int, ...]]:
    return [error.path for error in refused.value.errors]


def test_a_person_is_registered_with_cleaned_contact_details(handle):
    recorded = handle(
        "register-participant",
        name=" Ann Lee ",
        email="Ann@Example.COM",
        phone="+49 (30) 1234-5678",
        external_ref="hr-17",
    )
    assert handle.then == ["Participant.Registered"]
    assert (recorded.version, recorded.position) == (1, 2)
    ann = handle.load(Participant, recorded.id)
    assert (ann.tenant_id, ann.kind, ann.name) == (ACME, "person", "Ann Lee")
    assert (ann.email, ann.phone, ann.external_ref) == ("Ann@example.com", "+493012345678", "hr-17")


def test_a_system_is_registered_without_contact_details(handle):
    recorded = handle("register-participant", name="Billing", kind="system")
    bot = handle.load(Participant, recorded.id)
    assert (bot.kind, bot.email, bot.phone, bot.external_ref) == ("system", None, None, None)


def test_two_participants_may_share_a_name(handle):
    first = registered(handle, "Ann")
    second = handle("register-participant", name="Ann")
    assert handle.then == ["Participant.Registered"]
    assert str(second.id) != first


@pytest.mark.parametrize("role", ["viewer", "automation", "platform"])
@pytest.mark.parametrize("command", ["register-participant", "update-participant"])
def test_only_editors_and_admins_write_participants(handle, role, command):
    body = (
        {"name": "Ann"}
        if command == "register-participant"
        else {"participant_id": registered(handle), "changes": {"name": "Bo"}}
    )
    with pytest.raises(Forbidden, match="data:write"):
        handle(command, as_role=role, **body)
    assert handle.then == []


def test_an_admin_may_register_a_participant(handle):
    handle("register-participant", as_role="admin", name="Ann")
    assert handle.then == ["Participant.Registered"]


def test_a_participant_in_a_tenant_that_was_never_created_is_refused(handle):
    with pytest.raises(NotFound, match="tenant does not exist"):
        handle("register-participant", tenant="nowhere", name="Ann")
    assert handle.then == []


def test_an_unknown_kind_is_refused(handle):
    with pytest.raises(InvalidInput, match="person, system") as refused:
        handle("register-participant", name="R2", kind="robot")
    assert refused.value.path == ("kind",)
    assert handle.then == []


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_a_blank_or_overlong_name_is_refused(handle, name):
    with pytest.raises(InvalidInput, match="1-200 characters") as refused:
        handle("register-participant", name=name)
    assert refused.value.path == ("name",)
    assert handle.then == []


def test_every_invalid_contact_detail_is_reported_with_its_path(handle):
    with pytest.raises(DataInvalid) as refused:
        handle(
            "register-participant", name="Ann", email="ann", phone="0301234", external_ref="x" * 201
        )
    assert paths(refused) == [("email",), ("phone",), ("external_ref",)]
    assert handle.then == []


def test_an_update_changes_the_name_and_clears_a_contact_detail(handle):
    ann = registered(handle, phone="+4930123456")
    recorded = handle(
        "update-participant",
        participant_id=ann,
        changes={"name": " Ann Lee ", "phone": None, "email": "ann@EXAMPLE.com"},
        expected_version=1,
    )
    assert handle.then == ["Participant.Updated"]
    assert (str(recorded.id), recorded.version) == (ann, 2)
    assert handle.events[0].data["changes"] == {
        "name": "Ann Lee",
        "phone": None,
        "email": "ann@example.com",
    }
    loaded = handle.load(Participant, ann)
    assert (loaded.name, loaded.email, loaded.phone) == ("Ann Lee", "ann@example.com", None)


def test_an_update_stores_only_what_changes(handle):
    ann = registered(handle, email="ann@example.com")
    handle(
        "update-participant", participant_id=ann, changes={"name": "Ann", "phone": "+4930123456"}
    )
    assert handle.then == ["Participant.Updated"]
    assert handle.events[0].data["changes"] == {"phone": "+4930123456"}


def test_an_update_that_changes_nothing_stores_nothing(handle):
    ann = registered(handle, email="ann@example.com")
    recorded = handle(
        "update-participant",
        participant_id=ann,
        changes={"name": "Ann", "email": "ann@Example.com"},
    )
    assert handle.then == []
    assert recorded.version == 1


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"kind": "system"}, InvalidInput),
        ({"name": "  "}, InvalidInput),
        ({"email": "ann@"}, DataInvalid),
        ({"phone": 4930123456}, DataInvalid),
        ({"external_ref": "x" * 201}, DataInvalid),
    ],
)
def test_an_invalid_update_is_refused(handle, changes, error):
    ann = registered(handle)
    with pytest.raises(error):
        handle("update-participant", participant_id=ann, changes=changes)
    assert handle.then == []
    loaded = handle.load(Participant, ann)
    assert (loaded.kind, loaded.name, loaded.email) == ("person", "Ann", None)


def test_a_null_name_is_refused(handle):
    ann = registered(handle)
    with pytest.raises(InvalidInput):
        handle("update-participant", participant_id=ann, changes={"name": None})
    assert handle.then == []
    assert handle.load(Participant, ann).name == "Ann"


def test_update_faults_are_reported_at_their_path_in_the_body(handle):
    ann = registered(handle)
    with pytest.raises(DataInvalid) as invalid:
        handle("update-participant", participant_id=ann, changes={"email": "ann"})
    assert paths(invalid) == [("changes", "email")]
    with pytest.raises(InvalidInput) as unknown:
        handle("update-participant", participant_id=ann, changes={"kind": "system"})
    assert unknown.value.path == ("changes", "kind")
    assert handle.then == []


def test_a_stale_expected_version_is_a_conflict(handle):
    ann = registered(handle)
    handle.given("update-participant", participant_id=ann, changes={"name": "Ann Lee"})
    with pytest.raises(Conflict, match="expected version 1, but it is at 2") as refused:
        handle(
            "update-participant", participant_id=ann, changes={"name": "Ann"}, expected_version=1
        )
    assert refused.value.path == ("expected_version",)
    assert handle.then == []


def test_another_tenants_participant_is_not_found(handle):
    ann = registered(handle)
    handle.given("create-tenant", as_role="platform", slug="globex", name="Globex")
    with pytest.raises(NotFound, match="no participant with this id") as refused:
        handle("update-participant", tenant="globex", participant_id=ann, changes={"name": "Bo"})
    assert refused.value.path == ("participant_id",)
    assert handle.then == []
    assert handle.load(Participant, ann).name == "Ann"


@pytest.mark.parametrize("missing", [uuid4(), ACME], ids=["unknown", "a tenant's id"])
def test_an_id_that_names_no_participant_is_not_found(handle, missing):
    with pytest.raises(NotFound, match="no participant with this id") as refused:
        handle("update-participant", participant_id=missing, changes={"name": "Bo"})
    assert refused.value.path == ("participant_id",)
    assert handle.then == []

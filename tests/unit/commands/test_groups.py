"""Group commands in memory: create, rename, add and remove members."""

from __future__ import annotations

from uuid import uuid4

import pytest

from commands.auth import Forbidden
from domain.errors import Conflict, InvalidInput, NotFound
from domain.group import Group


def created(handle, name="Field team") -> str:
    return str(handle.given("create-group", name=name).id)


def an_entity(handle, tenant="acme") -> str:
    """An entity of a fresh type `Site` (once per tenant and test)."""
    fields = [{"name": "t", "type": "text"}]
    site = handle.given("define-entity-type", tenant=tenant, name="Site", fields=fields)
    return str(handle.given("create-entity", tenant=tenant, entity_type_id=site.id, data={}).id)


def a_participant(handle, name="Ann") -> str:
    return str(handle.given("register-participant", name=name).id)


def test_a_group_is_created_empty_with_a_trimmed_name(handle):
    recorded = handle("create-group", name="  Field team ", description=" North ")
    assert handle.then == ["Group.Created"]
    assert (recorded.version, recorded.position) == (1, 2)
    group = handle.load(Group, recorded.id)
    assert (group.name, group.description) == ("Field team", "North")
    assert (group.entity_ids, group.participant_ids) == ([], [])


def test_a_viewer_may_not_create_a_group_and_nothing_is_stored(handle):
    with pytest.raises(Forbidden):
        handle("create-group", as_role="viewer", name="Field team")
    assert handle.then == []


def test_the_automation_role_may_not_write_data(handle):
    with pytest.raises(Forbidden):
        handle("create-group", as_role="automation", name="Field team")
    assert handle.then == []


def test_a_group_in_a_tenant_that_was_never_created_is_refused(handle):
    with pytest.raises(NotFound, match="tenant does not exist"):
        handle("create-group", tenant="nowhere", name="Field team")
    assert handle.then == []


def test_a_blank_group_name_is_refused(handle):
    with pytest.raises(InvalidInput, match="must be 1-200 characters") as refused:
        handle("create-group", name="   ")
    assert refused.value.path == ("name",)
    assert handle.then == []


def test_renaming_a_group_records_the_new_name(handle):
    group_id = created(handle)
    recorded = handle("rename-group", group_id=group_id, name=" Night shift ", expected_version=1)
    assert handle.then == ["Group.Renamed"]
    assert recorded.version == 2
    assert handle.load(Group, group_id).name == "Night shift"


def test_renaming_to_a_blank_name_is_refused(handle):
    group_id = created(handle)
    with pytest.raises(InvalidInput) as refused:
        handle("rename-group", group_id=group_id, name="")
    assert refused.value.path == ("name",)
    assert handle.then == []
    assert handle.load(Group, group_id).name == "Field team"


def test_renaming_with_a_stale_expected_version_is_a_conflict(handle):
    group_id = created(handle)
    handle.given("rename-group", group_id=group_id, name="Night shift")
    with pytest.raises(Conflict, match="expected version 1, but it is at 2") as refused:
        handle("rename-group", group_id=group_id, name="Day shift", expected_version=1)
    assert refused.value.path == ("expected_version",)
    assert handle.then == []


def test_a_viewer_may_not_rename_a_group(handle):
    group_id = created(handle)
    with pytest.raises(Forbidden):
        handle("rename-group", as_role="viewer", group_id=group_id, name="Night shift")
    assert handle.then == []


def test_renaming_a_missing_group_is_not_found(handle):
    with pytest.raises(NotFound, match="no group with this id") as refused:
        handle("rename-group", group_id=uuid4(), name="Night shift")
    assert refused.value.path == ("group_id",)
    assert handle.then == []


def test_another_tenants_group_is_not_found(handle):
    group_id = created(handle)
    handle.given("create-tenant", as_role="platform", slug="globex", name="Globex")
    with pytest.raises(NotFound, match="no group with this id") as refused:
        handle("rename-group", tenant="globex", group_id=group_id, name="Ours now")
    assert refused.value.path == ("group_id",)
    assert handle.then == []
    assert handle.load(Group, group_id).name == "Field team"


def test_entities_and_participants_are_added_once_each(handle):
    group_id = created(handle)
    entity, ann = an_entity(handle), a_participant(handle)
    recorded = handle(
        "add-group-members", group_id=group_id, entity_ids=[entity, entity], participant_ids=[ann]
    )
    assert handle.then == ["Group.MembersAdded"]
    assert recorded.version == 2
    group = handle.load(Group, group_id)
    assert [str(i) for i in group.entity_ids] == [entity]
    assert [str(i) for i in group.participant_ids] == [ann]


def test_adding_only_members_already_in_the_group_stores_nothing(handle):
    group_id = created(handle)
    ann = a_participant(handle)
    handle.given("add-group-members", group_id=group_id, participant_ids=[ann])
    recorded = handle("add-group-members", group_id=group_id, participant_ids=[ann])
    assert handle.then == []
    assert recorded.version == 2


def test_adding_nobody_is_refused(handle):
    group_id = created(handle)
    with pytest.raises(InvalidInput, match="at least one") as refused:
        handle("add-group-members", group_id=group_id)
    assert refused.value.path == ("entity_ids",)
    assert handle.then == []


def test_a_member_must_be_an_entity_of_the_tenant(handle):
    group_id = created(handle)
    ours = an_entity(handle)
    handle.given("create-tenant", as_role="platform", slug="globex", name="Globex")
    theirs = an_entity(handle, tenant="globex")
    with pytest.raises(NotFound, match="no entity with this id") as refused:
        handle("add-group-members", group_id=group_id, entity_ids=[ours, theirs])
    assert refused.value.path == ("entity_ids", 1)
    assert handle.then == []
    assert handle.load(Group, group_id).entity_ids == []


def test_an_entity_is_not_accepted_as_a_participant(handle):
    group_id = created(handle)
    ann, entity = a_participant(handle), an_entity(handle)
    with pytest.raises(NotFound, match="no participant with this id") as refused:
        handle("add-group-members", group_id=group_id, participant_ids=[ann, entity])
    assert refused.value.path == ("participant_ids", 1)
    assert handle.then == []


def test_adding_to_a_missing_group_is_not_found(handle):
    ann = a_participant(handle)
    with pytest.raises(NotFound, match="no group with this id") as refused:
        handle("add-group-members", group_id=uuid4(), participant_ids=[ann])
    assert refused.value.path == ("group_id",)
    assert handle.then == []


def test_adding_with_a_stale_expected_version_is_a_conflict(handle):
    group_id = created(handle)
    ann = a_participant(handle)
    with pytest.raises(Conflict) as refused:
        handle("add-group-members", group_id=group_id, participant_ids=[ann], expected_version=2)
    assert refused.value.path == ("expected_version",)
    assert handle.then == []


def test_a_viewer_may_not_add_members(handle):
    group_id = created(handle)
    ann = a_participant(handle)
    with pytest.raises(Forbidden):
        handle("add-group-members", as_role="viewer", group_id=group_id, participant_ids=[ann])
    assert handle.then == []


def test_removing_members_keeps_the_others(handle):
    group_id = created(handle)
    ann, bob, entity = a_participant(handle), a_participant(handle, "Bob"), an_entity(handle)
    handle.given(
        "add-group-members", group_id=group_id, entity_ids=[entity], participant_ids=[ann, bob]
    )
    recorded = handle(
        "remove-group-members", group_id=group_id, entity_ids=[entity], participant_ids=[ann]
    )
    assert handle.then == ["Group.MembersRemoved"]
    assert recorded.version == 3
    assert handle.events[0].data["participant_ids"] == [ann]
    group = handle.load(Group, group_id)
    assert (group.entity_ids, [str(i) for i in group.participant_ids]) == ([], [bob])


def test_removing_someone_who_is_not_a_member_stores_nothing(handle):
    group_id = created(handle)
    recorded = handle("remove-group-members", group_id=group_id, participant_ids=[uuid4()])
    assert handle.then == []
    assert recorded.version == 1


def test_removing_from_another_tenants_group_is_not_found(handle):
    group_id = created(handle)
    ann = a_participant(handle)
    handle.given("add-group-members", group_id=group_id, participant_ids=[ann])
    handle.given("create-tenant", as_role="platform", slug="globex", name="Globex")
    with pytest.raises(NotFound) as refused:
        handle("remove-group-members", tenant="globex", group_id=group_id, participant_ids=[ann])
    assert refused.value.path == ("group_id",)
    assert handle.then == []
    assert [str(i) for i in handle.load(Group, group_id).participant_ids] == [ann]


def test_removing_with_a_stale_expected_version_is_a_conflict(handle):
    group_id = created(handle)
    ann = a_participant(handle)
    handle.given("add-group-members", group_id=group_id, participant_ids=[ann])
    with pytest.raises(Conflict, match="expected version 1"):
        handle("remove-group-members", group_id=group_id, participant_ids=[ann], expected_version=1)
    assert handle.then == []


def test_a_viewer_may_not_remove_members(handle):
    group_id = created(handle)
    ann = a_participant(handle)
    handle.given("add-group-members", group_id=group_id, participant_ids=[ann])
    with pytest.raises(Forbidden):
        handle("remove-group-members", as_role="viewer", group_id=group_id, participant_ids=[ann])
    assert handle.then == []


def test_an_idempotent_retry_of_adding_members_stores_nothing_more(handle):
    group_id = created(handle)
    ann = a_participant(handle)
    first = handle(
        "add-group-members", idempotency_key="k1", group_id=group_id, participant_ids=[ann]
    )
    again = handle(
        "add-group-members", idempotency_key="k1", group_id=group_id, participant_ids=[ann]
    )
    assert again == first
    assert handle.then == ["Group.MembersAdded", "CommandReceipt.Issued"]

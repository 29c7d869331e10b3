"""Given/when/then on the aggregates: invariants hold without any I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from domain.entity import Entity
from domain.entity_type import EntityType
from domain.errors import Conflict, InvalidInput
from domain.fields import DataInvalid
from domain.group import Group
from domain.process import Process
from domain.tenant import Tenant
from domain.unique import UniqueClaim

TENANT = uuid4()


def site_type() -> EntityType:
    return EntityType.define(
        TENANT,
        "Site",
        [
            {"name": "title", "type": "text", "required": True},
            {"name": "code", "type": "text", "unique": True},
        ],
    )


def test_a_process_starts_in_its_first_stage_and_records_the_move():
    process = Process.open(TENANT, "inspection", "Site A", ["new", "done"])
    process.enter_stage("done")
    events = process.collect_events()
    assert [type(e).__name__ for e in events] == ["Opened", "StageEntered"]
    assert events[1].previous == "new"  # type: ignore[attr-defined]


def test_a_closed_process_refuses_changes():
    process = Process.open(TENANT, "inspection", "Site A", ["new", "done"])
    process.close("cancelled")
    with pytest.raises(Conflict):
        process.enter_stage("done")


def test_unknown_stage_and_naive_due_date_are_refused():
    process = Process.open(TENANT, "inspection", "Site A", ["new"])
    with pytest.raises(InvalidInput) as unknown:
        process.enter_stage("flying")
    assert unknown.value.path == ("stage",)
    with pytest.raises(InvalidInput):
        process.set_due(datetime(2026, 1, 1))
    process.set_due(datetime(2026, 1, 1, tzinfo=UTC))


def test_entity_data_is_validated_against_its_type():
    with pytest.raises(DataInvalid) as invalid:
        Entity.create(site_type(), {"code": 5}, None)
    assert {e.path for e in invalid.value.errors} == {("data", "title"), ("data", "code")}


def test_entities_keep_their_schema_version_when_the_type_is_revised():
    site = site_type()
    entity = Entity.create(site, {"title": "A", "code": "X"}, None)
    site.revise(
        [{"name": "title", "type": "text", "required": True}, {"name": "n", "type": "integer"}],
        None,
    )
    assert (entity.schema_version, site.schema_version) == (1, 2)
    entity.update(site, {"n": 3})
    assert entity.schema_version == 2
    assert entity.data == {"title": "A", "code": "X", "n": 3}


def test_an_update_that_changes_nothing_records_nothing():
    site = site_type()
    entity = Entity.create(site, {"title": "A"}, None)
    entity.collect_events()
    entity.update(site, {"title": "A"})
    assert entity.collect_events() == []


def test_a_retired_type_takes_no_new_entities():
    site = site_type()
    site.retire()
    with pytest.raises(Conflict):
        Entity.create(site, {"title": "A"}, None)


def test_group_membership_is_a_set():
    group = Group.create(TENANT, "North")
    member = uuid4()
    group.add_members([member, member], [])
    group.add_members([member], [])
    assert group.entity_ids == [member]
    assert len(group.collect_events()) == 2  # created + one MembersAdded


def test_a_claim_belongs_to_one_owner_until_released():
    owner, other = uuid4(), uuid4()
    claim = UniqueClaim(tenant_id=TENANT, scope="s", value="v", owner_id=owner)
    with pytest.raises(Conflict):
        claim.reclaim(other)
    claim.release()
    claim.reclaim(other)
    assert claim.owner_id == other
    assert claim.id == UniqueClaim.create_id(TENANT, "s", "v")


@pytest.mark.parametrize(
    ("settings", "path"),
    [
        ({"timezone": "Mars/Olympus"}, ("settings", "timezone")),
        ({"locale": "english"}, ("settings", "locale")),
        ({"commands_per_second": 0}, ("settings", "commands_per_second")),
        ({"colour": "red"}, ("settings", "colour")),
    ],
)
def test_tenant_settings_are_checked(settings, path):
    with pytest.raises(InvalidInput) as invalid:
        Tenant.create("acme", "Acme", settings)
    assert invalid.value.path == path


def test_tenant_id_is_derived_from_the_slug():
    assert Tenant.create("acme", "Acme", {}).id == Tenant.create_id("acme")
    with pytest.raises(InvalidInput):
        Tenant.create("Not A Slug", "x", {})


def test_a_null_in_a_participant_update_clears_the_detail():
    from domain.participant import Participant

    person = Participant.register(TENANT, "Dana", email="dana@example.org")
    person.update({"email": None})
    assert person.email is None

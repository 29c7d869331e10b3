"""Occurrence commands in memory: record (checked against its kind, links, location), retract."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from commands.auth import Forbidden
from domain.errors import Conflict, InvalidInput, NotFound
from domain.fields import DataInvalid
from domain.occurrence import Occurrence

AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
INCIDENT = [
    {"name": "severity", "type": "integer", "required": True, "constraints": {"min": 1}},
    {"name": "status", "type": "enum", "constraints": {"values": ["open", "shut"]}},
    {"name": "seen_at", "type": "datetime"},
]


def incident_kind(handle, fields=INCIDENT) -> str:
    return str(handle.given("define-occurrence-kind", name="Incident", fields=fields).id)


def recorded(handle, **body) -> str:
    return str(handle.given("record-occurrence", kind="visit", occurred_at=AT, **body).id)


def an_entity(handle, tenant="acme") -> str:
    fields = [{"name": "t", "type": "text"}]
    site = handle.given("define-entity-type", tenant=tenant, name="Site", fields=fields)
    return str(handle.given("create-entity", tenant=tenant, entity_type_id=site.id, data={}).id)


def paths(refused: pytest.ExceptionInfo[DataInvalid]) -> list[tuple[str | int, ...]]:
    return [error.path for error in refused.value.errors]


def test_an_occurrence_of_a_kind_without_fields_keeps_its_data_as_given(handle):
    answer = handle("record-occurrence", kind=" visit ", occurred_at=AT, data={"note": {"a": [1]}})
    assert handle.then == ["Occurrence.Recorded"]
    assert (answer.version, answer.position) == (1, 2)
    occurrence = handle.load(Occurrence, answer.id)
    assert (occurrence.kind, occurrence.occurred_at) == ("visit", AT)
    assert occurrence.data == {"note": {"a": [1]}}
    assert (occurrence.location, occurrence.process_id, occurrence.retracted) == (None, None, None)


def test_a_viewer_may_not_record_an_occurrence(handle):
    with pytest.raises(Forbidden):
        handle("record-occurrence", as_role="viewer", kind="visit", occurred_at=AT)
    assert handle.then == []


def test_an_occurrence_in_a_tenant_that_was_never_created_is_refused(handle):
    with pytest.raises(NotFound, match="tenant does not exist"):
        handle("record-occurrence", tenant="nowhere", kind="visit", occurred_at=AT)
    assert handle.then == []


def test_an_occurrence_without_a_timezone_is_refused(handle):
    with pytest.raises(InvalidInput, match="timezone") as refused:
        handle("record-occurrence", kind="visit", occurred_at=datetime(2026, 3, 1, 9, 30))
    assert refused.value.path == ("occurred_at",)
    assert handle.then == []


@pytest.mark.parametrize("kind", ["", "   ", "k" * 64])
def test_a_blank_or_overlong_kind_is_refused(handle, kind):
    with pytest.raises(InvalidInput, match="1-63 characters") as refused:
        handle("record-occurrence", kind=kind, occurred_at=AT)
    assert refused.value.path == ("kind",)
    assert handle.then == []


def test_data_of_a_defined_kind_is_validated_and_cleaned(handle):
    incident_kind(handle)
    data = {"severity": 3, "seen_at": "2026-03-01T11:00:00+02:00"}
    answer = handle("record-occurrence", kind="incident", occurred_at=AT, data=data)
    assert handle.then == ["Occurrence.Recorded"]
    assert handle.events[0].data["data"] == {"severity": 3, "seen_at": "2026-03-01T09:00:00+00:00"}
    assert handle.load(Occurrence, answer.id).kind == "incident"


def test_every_fault_in_the_data_of_a_defined_kind_is_reported_under_data(handle):
    incident_kind(handle)
    data = {"severity": 0, "status": "lost", "colour": "red"}
    with pytest.raises(DataInvalid) as refused:
        handle("record-occurrence", kind="INCIDENT", occurred_at=AT, data=data)
    assert sorted(paths(refused), key=str) == [
        ("data", "colour"),
        ("data", "severity"),
        ("data", "status"),
    ]
    assert handle.then == []


def test_a_required_field_of_the_kind_must_be_given(handle):
    incident_kind(handle)
    with pytest.raises(DataInvalid, match="is required") as refused:
        handle("record-occurrence", kind="Incident", occurred_at=AT, data={"status": "open"})
    assert paths(refused) == [("data", "severity")]
    assert handle.then == []


def test_a_default_of_the_kind_is_filled_in(handle):
    incident_kind(handle, [{"name": "status", "type": "text", "default": "open"}])
    answer = handle("record-occurrence", kind="Incident", occurred_at=AT)
    assert handle.load(Occurrence, answer.id).data == {"status": "open"}


def test_occurrences_are_checked_against_the_kinds_latest_revision(handle):
    kind_id = incident_kind(handle)
    before = handle.given(
        "record-occurrence", kind="Incident", occurred_at=AT, data={"severity": 2}
    ).id
    summary = {"name": "summary", "type": "text", "required": True}
    handle.given("revise-occurrence-kind", occurrence_kind_id=kind_id, fields=[*INCIDENT, summary])
    with pytest.raises(DataInvalid) as refused:
        handle("record-occurrence", kind="Incident", occurred_at=AT, data={"severity": 2})
    assert paths(refused) == [("data", "summary")]
    assert handle.then == []
    assert handle.load(Occurrence, before).data == {"severity": 2}


def test_another_tenants_kind_does_not_apply(handle):
    incident_kind(handle)
    handle.given("create-tenant", as_role="platform", slug="globex", name="Globex")
    handle("record-occurrence", tenant="globex", kind="Incident", occurred_at=AT, data={"x": 1})
    assert handle.then == ["Occurrence.Recorded"]
    assert handle.events[0].data["data"] == {"x": 1}


def test_text_that_cannot_be_stored_is_refused_in_free_form_data(handle):
    with pytest.raises(DataInvalid, match="NUL") as refused:
        handle("record-occurrence", kind="visit", occurred_at=AT, data={"note": "a\x00b"})
    assert paths(refused) == [("data", "note")]
    assert handle.then == []


def test_a_location_is_stored_as_a_point(handle):
    answer = handle(
        "record-occurrence", kind="visit", occurred_at=AT, location={"lat": 48, "lon": 2}
    )
    assert handle.load(Occurrence, answer.id).location == {"lat": 48.0, "lon": 2.0}


@pytest.mark.parametrize(
    ("location", "path", "message"),
    [
        ({"lat": 1.0}, ("location",), "exactly 'lat' and 'lon'"),
        ({"lat": 1.0, "lon": 2.0, "alt": 3.0}, ("location",), "exactly 'lat' and 'lon'"),
        ({"lat": True, "lon": 2.0}, ("location", "lat"), "must be a number"),
        ({"lat": "48", "lon": 2.0}, ("location", "lat"), "must be a number"),
        ({"lat": 90.5, "lon": 2.0}, ("location", "lat"), "between -90 and 90"),
        ({"lat": 0.0, "lon": -180.5}, ("location", "lon"), "between -180 and 180"),
        ({"lat": float("nan"), "lon": 0.0}, ("location", "lat"), "between -90 and 90"),
    ],
)
def test_a_location_that_is_not_a_point_on_earth_is_refused(handle, location, path, message):
    with pytest.raises(InvalidInput, match=message) as refused:
        handle("record-occurrence", kind="visit", occurred_at=AT, location=location)
    assert refused.value.path == path
    assert handle.then == []


def test_an_occurrence_links_a_process_entities_and_participants_once_each(handle):
    process = handle.given("open-process", kind="audit", title="Site A", stages=["new"]).id
    entity = an_entity(handle)
    ann = handle.given("register-participant", name="Ann").id
    answer = handle(
        "record-occurrence",
        kind="visit",
        occurred_at=AT,
        process_id=process,
        entity_ids=[entity, entity],
        participant_ids=[ann],
    )
    occurrence = handle.load(Occurrence, answer.id)
    assert occurrence.process_id == process
    assert occurrence.entity_ids == [UUID(entity)]
    assert occurrence.participant_ids == [ann]


def test_a_linked_process_must_be_of_the_tenant(handle):
    handle.given("create-tenant", as_role="platform", slug="globex", name="Globex")
    theirs = handle.given(
        "open-process", tenant="globex", kind="audit", title="Site B", stages=["new"]
    ).id
    with pytest.raises(NotFound, match="no process with this id") as refused:
        handle("record-occurrence", kind="visit", occurred_at=AT, process_id=theirs)
    assert refused.value.path == ("process_id",)
    assert handle.then == []


def test_linked_entities_must_be_of_the_tenant(handle):
    ours = an_entity(handle)
    handle.given("create-tenant", as_role="platform", slug="globex", name="Globex")
    theirs = an_entity(handle, tenant="globex")
    with pytest.raises(NotFound, match="no entity with this id") as refused:
        handle("record-occurrence", kind="visit", occurred_at=AT, entity_ids=[ours, theirs])
    assert refused.value.path == ("entity_ids", 1)
    assert handle.then == []


def test_a_linked_participant_must_exist(handle):
    ann = handle.given("register-participant", name="Ann").id
    with pytest.raises(NotFound, match="no participant with this id") as refused:
        handle("record-occurrence", kind="visit", occurred_at=AT, participant_ids=[ann, uuid4()])
    assert refused.value.path == ("participant_ids", 1)
    assert handle.then == []


def test_a_reference_field_of_the_kind_must_name_an_entity_of_the_tenant(handle):
    incident_kind(handle, [{"name": "site", "type": "reference"}])
    with pytest.raises(NotFound) as refused:
        handle("record-occurrence", kind="Incident", occurred_at=AT, data={"site": str(uuid4())})
    assert refused.value.path == ("data", "site")
    assert handle.then == []


def test_a_unique_field_of_the_kind_is_not_given_twice(handle):
    incident_kind(handle, [{"name": "ticket", "type": "text", "unique": True}])
    handle.given("record-occurrence", kind="Incident", occurred_at=AT, data={"ticket": "T-1"})
    with pytest.raises(Conflict):
        handle("record-occurrence", kind="Incident", occurred_at=AT, data={"ticket": "T-1"})
    assert handle.then == []


def test_retracting_keeps_the_occurrence_with_the_reason(handle):
    occurrence_id = recorded(handle, data={"n": 1})
    answer = handle(
        "retract-occurrence", occurrence_id=occurrence_id, reason=" typo ", expected_version=1
    )
    assert handle.then == ["Occurrence.Retracted"]
    assert answer.version == 2
    occurrence = handle.load(Occurrence, occurrence_id)
    assert (occurrence.retracted, occurrence.data) == ("typo", {"n": 1})


def test_retracting_twice_is_a_conflict(handle):
    occurrence_id = recorded(handle)
    handle.given("retract-occurrence", occurrence_id=occurrence_id, reason="typo")
    with pytest.raises(Conflict, match="already retracted"):
        handle("retract-occurrence", occurrence_id=occurrence_id, reason="again")
    assert handle.then == []
    assert handle.load(Occurrence, occurrence_id).retracted == "typo"


def test_a_retraction_needs_a_reason(handle):
    occurrence_id = recorded(handle)
    with pytest.raises(InvalidInput) as refused:
        handle("retract-occurrence", occurrence_id=occurrence_id, reason="  ")
    assert refused.value.path == ("reason",)
    assert handle.then == []


def test_retracting_with_a_stale_expected_version_is_a_conflict(handle):
    occurrence_id = recorded(handle)
    with pytest.raises(Conflict, match="expected version 2, but it is at 1") as refused:
        handle("retract-occurrence", occurrence_id=occurrence_id, reason="typo", expected_version=2)
    assert refused.value.path == ("expected_version",)
    assert handle.then == []


def test_retracting_another_tenants_occurrence_is_not_found(handle):
    occurrence_id = recorded(handle)
    handle.given("create-tenant", as_role="platform", slug="globex", name="Globex")
    with pytest.raises(NotFound, match="no occurrence with this id") as refused:
        handle("retract-occurrence", tenant="globex", occurrence_id=occurrence_id, reason="x")
    assert refused.value.path == ("occurrence_id",)
    assert handle.then == []
    assert handle.load(Occurrence, occurrence_id).retracted is None


def test_retracting_a_process_by_its_id_is_not_found(handle):
    process = handle.given("open-process", kind="audit", title="Site A", stages=["new"]).id
    with pytest.raises(NotFound, match="no occurrence with this id"):
        handle("retract-occurrence", occurrence_id=process, reason="typo")
    assert handle.then == []


def test_a_viewer_may_not_retract(handle):
    occurrence_id = recorded(handle)
    with pytest.raises(Forbidden):
        handle("retract-occurrence", as_role="viewer", occurrence_id=occurrence_id, reason="x")
    assert handle.then == []


def test_an_idempotent_retry_records_the_occurrence_once(handle):
    first = handle("record-occurrence", idempotency_key="k1", kind="visit", occurred_at=AT)
    again = handle("record-occurrence", idempotency_key="k1", kind="visit", occurred_at=AT)
    assert again == first
    assert handle.then == ["Occurrence.Recorded", "CommandReceipt.Issued"]


def test_a_retracted_occurrence_frees_its_unique_values(handle):
    incident_kind(handle, [{"name": "ticket", "type": "text", "unique": True}])
    first = handle.given(
        "record-occurrence", kind="Incident", occurred_at=AT, data={"ticket": "T-1"}
    )
    handle("retract-occurrence", occurrence_id=first.id, reason="recorded twice")
    assert handle.then == ["Occurrence.Retracted", "UniqueClaim.Released"]
    handle("record-occurrence", kind="Incident", occurred_at=AT, data={"ticket": "T-1"})
    assert handle.then[-2:] == ["Occurrence.Recorded", "UniqueClaim.Reclaimed"]

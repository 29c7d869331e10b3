"""Process commands in memory: open, move, staff, link, set due, close."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from commands.auth import Forbidden
from domain.errors import Conflict, InvalidInput, NotFound
from domain.process import Process


def opened(handle, stages=("new", "review", "done")) -> str:
    return str(handle.given("open-process", kind="audit", title="Site A", stages=list(stages)).id)


def test_a_process_opens_in_its_first_stage(handle):
    recorded = handle("open-process", kind="audit", title="Site A", stages=["new", "done"])
    assert handle.then == ["Process.Opened"]
    assert (recorded.version, recorded.position) == (1, 2)
    assert handle.load(Process, recorded.id).stage == "new"


def test_a_viewer_may_not_open_a_process_and_nothing_is_stored(handle):
    with pytest.raises(Forbidden):
        handle("open-process", as_role="viewer", kind="audit", title="Site A", stages=["new"])
    assert handle.then == []


def test_a_process_in_a_tenant_that_was_never_created_is_refused(handle):
    with pytest.raises(NotFound, match="tenant does not exist"):
        handle("open-process", tenant="nowhere", kind="audit", title="A", stages=["new"])
    assert handle.then == []


def test_entering_a_stage_records_the_move(handle):
    process_id = opened(handle)
    handle("enter-stage", process_id=process_id, stage="review")
    assert handle.then == ["Process.StageEntered"]
    assert handle.events[0].data["previous"] == "new"


def test_entering_an_unknown_stage_is_refused(handle):
    process_id = opened(handle)
    with pytest.raises(InvalidInput):
        handle("enter-stage", process_id=process_id, stage="lost")
    assert handle.then == []


def test_a_stale_expected_version_is_a_conflict(handle):
    process_id = opened(handle)
    with pytest.raises(Conflict, match="expected version 3"):
        handle("enter-stage", process_id=process_id, stage="done", expected_version=3)
    assert handle.then == []


def test_another_tenants_process_is_not_found(handle):
    process_id = opened(handle)
    handle.given("create-tenant", as_role="platform", slug="globex", name="Globex")
    with pytest.raises(NotFound, match="no process with this id") as refused:
        handle("enter-stage", tenant="globex", process_id=process_id, stage="done")
    assert refused.value.path == ("process_id",)
    assert handle.then == []


def test_assigning_needs_a_participant_of_the_tenant(handle):
    process_id = opened(handle)
    with pytest.raises(NotFound) as refused:
        handle("assign-participant", process_id=process_id, participant_id=uuid4(), role="lead")
    assert refused.value.path == ("participant_id",)
    ann = handle.given("register-participant", name="Ann").id
    handle("assign-participant", process_id=process_id, participant_id=ann, role="lead")
    handle("unassign-participant", process_id=process_id, participant_id=ann)
    assert handle.then == ["Process.ParticipantAssigned", "Process.ParticipantUnassigned"]


def test_linking_needs_an_entity_of_the_tenant(handle):
    process_id = opened(handle)
    with pytest.raises(NotFound) as refused:
        handle("link-process-entity", process_id=process_id, entity_id=uuid4())
    assert refused.value.path == ("entity_id",)
    site = handle.given("define-entity-type", name="Site", fields=[{"name": "t", "type": "text"}])
    entity = handle.given("create-entity", entity_type_id=site.id, data={"t": "x"})
    handle("link-process-entity", process_id=process_id, entity_id=entity.id)
    assert handle.then == ["Process.EntityLinked"]


def test_a_due_date_is_set_and_cleared(handle):
    process_id = opened(handle)
    handle("set-process-due", process_id=process_id, due_at=datetime(2027, 1, 1, tzinfo=UTC))
    assert handle.load(Process, process_id).due_at == datetime(2027, 1, 1, tzinfo=UTC)
    handle("set-process-due", process_id=process_id, due_at=None)
    assert handle.load(Process, process_id).due_at is None
    assert len(handle.then) == 2


def test_a_closed_process_accepts_no_more_changes(handle):
    process_id = opened(handle)
    handle("close-process", process_id=process_id, outcome="done")
    assert handle.then == ["Process.Closed"]
    with pytest.raises(Conflict):
        handle("enter-stage", process_id=process_id, stage="review")
    assert handle.then == ["Process.Closed"]


def test_an_idempotent_retry_answers_the_first_result_and_stores_nothing_more(handle):
    first = handle("open-process", idempotency_key="k1", kind="audit", title="A", stages=["new"])
    again = handle("open-process", idempotency_key="k1", kind="audit", title="A", stages=["new"])
    assert again == first
    assert handle.then == ["Process.Opened", "CommandReceipt.Issued"]


def test_a_closed_process_is_reopened_in_the_stage_it_was_closed_in(handle):
    process_id = opened(handle)
    handle.given("enter-stage", process_id=process_id, stage="review")
    handle.given("close-process", process_id=process_id, outcome="done")
    handle("reopen-process", process_id=process_id, reason=" closed too early ")
    assert handle.then == ["Process.Reopened"]
    assert handle.events[0].data["reason"] == "closed too early"
    process = handle.load(Process, process_id)
    assert (process.status, process.outcome, process.stage) == ("open", None, "review")
    handle("enter-stage", process_id=process_id, stage="done")


def test_an_open_process_cannot_be_reopened(handle):
    process_id = opened(handle)
    with pytest.raises(Conflict, match="process is open"):
        handle("reopen-process", process_id=process_id, reason="why not")
    assert handle.then == []


def test_reopening_needs_a_reason_and_the_right_to_write(handle):
    process_id = opened(handle)
    handle.given("close-process", process_id=process_id, outcome="done")
    with pytest.raises(InvalidInput) as refused:
        handle("reopen-process", process_id=process_id, reason="  ")
    assert refused.value.path == ("reason",)
    with pytest.raises(Forbidden):
        handle("reopen-process", as_role="viewer", process_id=process_id, reason="again")
    assert handle.then == []

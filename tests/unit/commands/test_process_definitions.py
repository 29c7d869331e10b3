"""Process definitions in memory: publish versions, open cases from them, move them only by
their transitions (guards, roles, required fields, approvals), migrate them."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from commands.auth import Forbidden, Principal
from domain.errors import Conflict, InvalidInput, NotFound
from domain.fields import DataInvalid
from domain.process import Process
from domain.process_definition import ProcessDefinition
from domain.workflow import GuardFailed, NotPermitted
from tests.unit.commands.conftest import ACME

LEAD_OR_SEVERE = {
    "or": [{">=": [{"var": "data.severity"}, 3]}, {"in": ["lead", {"var": "me.roles"}]}]
}


def incident(**changes: Any) -> dict[str, Any]:
    """The incident workflow of the README: new → triage → fixing → review → closed."""
    spec: dict[str, Any] = {
        "key": "incident",
        "name": "Incident",
        "fields": [
            {"name": "severity", "type": "integer", "constraints": {"min": 1, "max": 5}},
            {"name": "summary", "type": "text"},
        ],
        "stages": [
            "new",
            {
                "name": "triage",
                "sla": {"within": "PT4H", "business_hours": True, "remind_at": [0.8]},
            },
            "fixing",
            {
                "name": "review",
                "approval": {
                    "count": 2,
                    "role": "reviewer",
                    "rejected_to": "fixing",
                    "approved_to": "closed",
                },
            },
            "closed",
        ],
        "transitions": [
            {"name": "triage", "from": "new", "to": "triage"},
            {"name": "fix", "from": "triage", "to": "fixing", "guard": LEAD_OR_SEVERE},
            {"name": "submit", "from": "fixing", "to": "review", "requires": ["summary"]},
            {"name": "drop", "from": ["new", "triage"], "to": "closed", "roles": ["lead"]},
        ],
    }
    return spec | changes


def published(handle, **changes: Any) -> None:
    handle.given("publish-process-definition", **incident(**changes))


def opened(handle, **data: Any) -> str:
    return str(handle.given("open-process", definition="incident", title="Outage", data=data).id)


def staffed(handle) -> None:
    for name in ("lead", "reviewer"):
        handle.given("define-role", name=name, grants=["data:write", "read:*"])


def test_publishing_a_definition_stores_version_1_then_each_change_is_the_next_version(handle):
    handle("publish-process-definition", as_role="admin", **incident())
    assert handle.then == ["ProcessDefinition.Published"]
    handle.store.given()
    handle("publish-process-definition", as_role="admin", **incident(name="Incident v2"))
    assert handle.then == ["ProcessDefinition.VersionPublished"]
    handle.store.given()
    handle("publish-process-definition", as_role="admin", **incident(name="Incident v2"))
    assert handle.then == []  # the latest version again: nothing new
    definition = handle.load(ProcessDefinition, ProcessDefinition.create_id(ACME, "incident"))
    assert definition.latest == 2


def test_an_editor_may_not_publish_a_definition(handle):
    with pytest.raises(Forbidden):
        handle("publish-process-definition", **incident())
    assert handle.then == []


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        ({"stages": []}, ["stages"], "at least one stage"),
        ({"stages": ["new", "new"]}, ["stages", 1, "name"], "appears twice"),
        (
            {"transitions": [{"name": "go", "from": "new", "to": "nowhere"}]},
            ["transitions", 0, "to"],
            "unknown stage 'nowhere'",
        ),
        (
            {"transitions": [{"name": "go", "from": ["new", "lost"], "to": "fixing"}]},
            ["transitions", 0, "from", 1],
            "unknown stage 'lost'",
        ),
        (
            {
                "transitions": [
                    {
                        "name": "go",
                        "from": "new",
                        "to": "fixing",
                        "guard": {">=": [{"var": "data.severty"}, 3]},
                    }
                ]
            },
            ["transitions", 0, "guard", ">=", 0, "var"],
            "severty",
        ),
        (
            {
                "transitions": [
                    {
                        "name": "go",
                        "from": "new",
                        "to": "fixing",
                        "guard": {">=": [{"var": "data.summary"}, 3]},
                    }
                ]
            },
            ["transitions", 0, "guard", ">=", 1],
            "cannot order data.summary (text) against the number 3",
        ),
        (
            {"transitions": [{"name": "go", "from": "new", "to": "fixing", "requires": ["x"]}]},
            ["transitions", 0, "requires", 0],
            "not a field of this definition",
        ),
        (
            {"stages": ["new", {"name": "review", "approval": {"count": 2, "role": "reviewer"}}]},
            ["stages", 1, "approval", "rejected_to"],
            "rejected case goes back to",
        ),
        (
            {"stages": ["new", {"name": "triage", "sla": {"within": "4 hours"}}]},
            ["stages", 1, "sla", "within"],
            "ISO 8601 duration",
        ),
        (
            {"fields": [{"name": "ssn", "type": "text", "personal": True}]},
            ["fields", 0, "personal"],
            "cannot be personal",
        ),
    ],
)
def test_a_faulty_definition_is_refused_with_the_path_of_each_fault(handle, changes, path, message):
    with pytest.raises(DataInvalid) as refused:
        handle("publish-process-definition", as_role="admin", **incident(**changes))
    found = {tuple(e.path): e.message for e in refused.value.errors}
    assert tuple(path) in found, found
    assert message in found[tuple(path)]
    assert handle.then == []


def test_a_process_opened_from_a_definition_pins_its_version_and_checks_its_data(handle):
    published(handle)
    with pytest.raises(DataInvalid) as refused:
        handle("open-process", definition="incident", title="Outage", data={"severity": 9})
    assert [e.path for e in refused.value.errors] == [("data", "severity")]
    recorded = handle("open-process", definition="incident", title="Outage", data={"severity": 2})
    process = handle.load(Process, recorded.id)
    assert (process.kind, process.definition_key, process.definition_version) == (
        "incident",
        "incident",
        1,
    )
    assert (process.stage, process.stages[-1]) == ("new", "closed")


def test_opening_from_an_unknown_definition_or_with_stages_of_its_own_is_refused(handle):
    with pytest.raises(NotFound, match="no process definition 'nope'"):
        handle("open-process", definition="nope", title="Outage")
    published(handle)
    with pytest.raises(InvalidInput, match="a definition gives the stages"):
        handle("open-process", definition="incident", title="Outage", stages=["a"])
    with pytest.raises(InvalidInput, match="name a definition, or a kind and its stages"):
        handle("open-process", title="Outage")
    assert handle.then == []


def test_a_transition_moves_the_case_and_is_recorded_with_its_name(handle):
    published(handle)
    process_id = opened(handle)
    handle("move-process", process_id=process_id, transition="triage")
    assert handle.then == ["Process.StageEntered"]
    moved = handle.events[0].data
    assert (moved["stage"], moved["previous"], moved["transition"]) == ("triage", "new", "triage")


def test_a_definitions_case_cannot_jump_stages_with_enter_stage(handle):
    published(handle)
    process_id = opened(handle)
    with pytest.raises(InvalidInput, match="take a transition with move-process"):
        handle("enter-stage", process_id=process_id, stage="closed")
    assert handle.then == []


def test_a_transition_from_another_stage_is_a_conflict(handle):
    published(handle)
    process_id = opened(handle)
    with pytest.raises(Conflict, match="in stage 'new'; 'submit' leaves 'fixing'"):
        handle("move-process", process_id=process_id, transition="submit")
    assert handle.then == []


def test_a_false_guard_is_refused_with_its_trace_and_a_lead_may_pass(handle):
    published(handle)
    staffed(handle)
    process_id = opened(handle, severity=2)
    handle.given("move-process", process_id=process_id, transition="triage")
    with pytest.raises(GuardFailed) as refused:
        handle("move-process", process_id=process_id, transition="fix")
    trace = refused.value.explanation.to_json()
    assert trace["result"] is False
    assert (trace["trace"]["op"], trace["trace"]["children"][0]["path"]) == ("or", "/or/0")
    assert handle.then == []
    handle("move-process", as_role="lead", process_id=process_id, transition="fix")
    assert handle.load(Process, process_id).stage == "fixing"


def test_a_transition_limited_to_roles_is_forbidden_to_others(handle):
    published(handle)
    staffed(handle)
    process_id = opened(handle)
    with pytest.raises(NotPermitted, match="only lead may take 'drop'"):
        handle("move-process", process_id=process_id, transition="drop")
    assert handle.then == []
    handle("move-process", as_role="lead", process_id=process_id, transition="drop")
    assert handle.load(Process, process_id).stage == "closed"


def test_a_transition_requiring_a_field_waits_until_it_is_set(handle):
    published(handle)
    process_id = opened(handle, severity=4)
    for transition in ("triage", "fix"):
        handle.given("move-process", process_id=process_id, transition=transition)
    with pytest.raises(InvalidInput, match="set summary first"):
        handle("move-process", process_id=process_id, transition="submit")
    handle("set-process-data", process_id=process_id, data={"summary": "disk full"})
    handle("move-process", process_id=process_id, transition="submit")
    assert handle.load(Process, process_id).stage == "review"


def test_process_data_is_checked_by_the_definitions_fields_and_null_clears(handle):
    published(handle)
    process_id = opened(handle, severity=4)
    with pytest.raises(DataInvalid) as refused:
        handle("set-process-data", process_id=process_id, data={"severity": "high", "x": 1})
    assert sorted(e.path for e in refused.value.errors) == [("data", "severity"), ("data", "x")]
    handle("set-process-data", process_id=process_id, data={"severity": None})
    assert handle.then == ["Process.DataSet"]
    assert handle.load(Process, process_id).data == {}


def in_review(handle) -> str:
    published(handle)
    staffed(handle)
    process_id = opened(handle, severity=4, summary="disk full")
    for transition in ("triage", "fix", "submit"):
        handle.given("move-process", process_id=process_id, transition=transition)
    return process_id


def test_two_reviewers_approvals_close_the_review(handle):
    process_id = in_review(handle)
    handle("approve-process", as_role="reviewer", as_actor="ann", process_id=process_id)
    assert handle.then == ["Process.Approved"]
    with pytest.raises(Conflict, match="approved stage 'review' already"):
        handle("approve-process", as_role="reviewer", as_actor="ann", process_id=process_id)
    handle.store.given()
    handle("approve-process", as_role="reviewer", as_actor="bob", process_id=process_id)
    assert handle.then == ["Process.Approved", "Process.StageEntered"]
    assert handle.load(Process, process_id).stage == "closed"


def test_only_reviewers_approve_and_a_rejection_sends_the_case_back(handle):
    process_id = in_review(handle)
    with pytest.raises(NotPermitted, match="only members with the role 'reviewer'"):
        handle("approve-process", as_actor="eve", process_id=process_id)
    handle.given("approve-process", as_role="reviewer", as_actor="ann", process_id=process_id)
    handle(
        "reject-process",
        as_role="reviewer",
        as_actor="bob",
        process_id=process_id,
        reason="no root cause",
    )
    assert handle.then == ["Process.Rejected", "Process.StageEntered"]
    process = handle.load(Process, process_id)
    assert (process.stage, process.approvals) == ("fixing", ())


def test_participants_with_a_role_may_approve_when_the_stage_says_so(handle):
    stages = [
        "new",
        {"name": "signoff", "approval": {"participant_role": "owner", "rejected_to": "new"}},
        "done",
    ]
    transitions = [
        {"name": "ask", "from": "new", "to": "signoff"},
        {"name": "finish", "from": "signoff", "to": "done"},
    ]
    published(handle, stages=stages, transitions=transitions)
    process_id = opened(handle)
    owner = str(handle.given("register-participant", name="Olga").id)
    handle.given("assign-participant", process_id=process_id, participant_id=owner, role="owner")
    handle.given("move-process", process_id=process_id, transition="ask")
    with pytest.raises(InvalidInput, match="needs 1 approval"):
        handle("move-process", process_id=process_id, transition="finish")
    with pytest.raises(NotPermitted):
        handle("approve-process", process_id=process_id, claims={"participant_id": "someone"})
    handle("approve-process", process_id=process_id, claims={"participant_id": owner})
    handle("move-process", process_id=process_id, transition="finish")
    assert handle.load(Process, process_id).stage == "done"


def test_a_new_version_leaves_running_cases_on_theirs_until_migrated(handle):
    published(handle)
    process_id = opened(handle, severity=4)
    handle.given("move-process", process_id=process_id, transition="triage")
    stages = ["new", "assessing", "fixing", "closed"]
    transitions = [
        {"name": "assess", "from": "new", "to": "assessing"},
        {"name": "fix", "from": "assessing", "to": "fixing"},
    ]
    fields = incident()["fields"]
    published(handle, stages=stages, transitions=transitions, fields=fields)
    process = handle.load(Process, process_id)
    assert (process.definition_version, process.stage) == (1, "triage")
    with pytest.raises(DataInvalid) as refused:
        handle("migrate-process", process_id=process_id, mapping={"triage": "assessing"})
    assert [e.path for e in refused.value.errors] == [("mapping", "review")]
    assert handle.then == []
    handle(
        "migrate-process",
        process_id=process_id,
        mapping={"triage": "assessing", "review": "fixing"},
    )
    assert handle.then == ["Process.Migrated"]
    process = handle.load(Process, process_id)
    assert (process.definition_version, process.stage) == (2, "assessing")
    handle("move-process", process_id=process_id, transition="fix")
    assert handle.load(Process, process_id).stage == "fixing"


def test_a_retired_definition_opens_no_new_cases(handle):
    published(handle)
    handle.given("retire-process-definition", key="incident")
    with pytest.raises(Conflict, match="retired"):
        handle("open-process", definition="incident", title="Outage")


PARIS = ZoneInfo("Europe/Paris")
FRIDAY_4PM = datetime(2026, 12, 4, 16, 0, tzinfo=PARIS)


def triaged_on_friday(handle) -> str:
    handle.given("change-tenant-settings", settings={"timezone": "Europe/Paris"})
    published(handle)
    handle.service.clock = lambda: FRIDAY_4PM
    process_id = opened(handle)
    handle.given("move-process", process_id=process_id, transition="triage")
    return process_id


def test_entering_a_stage_with_an_sla_fixes_its_deadline_and_reminder_in_working_hours(handle):
    process = handle.load(Process, triaged_on_friday(handle))
    assert process.sla_due_at.astimezone(PARIS) == datetime(2026, 12, 7, 12, 0, tzinfo=PARIS)
    (reminder,) = process.sla_reminders
    assert reminder["fraction"] == 0.8
    assert datetime.fromisoformat(reminder["at"]).astimezone(PARIS).time() == time(11, 12)
    assert process.next_timer_at == datetime.fromisoformat(reminder["at"])


def test_timers_fire_once_each_when_due_and_never_again(handle):
    process_id = triaged_on_friday(handle)
    timers = handle.service.process_timers(Principal.system("test-scheduler"))
    monday = datetime(2026, 12, 7, tzinfo=PARIS)
    assert timers.fire([UUID(process_id)], monday.replace(hour=11)) == []
    assert handle.then == []
    timers.fire([UUID(process_id)], monday.replace(hour=11, minute=12))
    assert handle.then == ["Process.SlaReminded"]
    handle.store.given()
    timers.fire([UUID(process_id)], monday.replace(hour=11, minute=30))
    assert handle.then == []
    timers.fire([UUID(process_id)], monday.replace(hour=13))
    assert handle.then == ["Process.SlaBreached"]
    assert handle.events[0].data["stage"] == "triage"
    handle.store.given()
    timers.fire([UUID(process_id)], monday.replace(day=9))
    assert handle.then == []
    assert handle.load(Process, process_id).next_timer_at is None


def test_after_downtime_the_reminder_and_the_breach_are_both_recorded_in_order(handle):
    process_id = triaged_on_friday(handle)
    timers = handle.service.process_timers(Principal.system("test-scheduler"))
    timers.fire([UUID(process_id)], datetime(2026, 12, 8, tzinfo=PARIS))
    assert handle.then == ["Process.SlaReminded", "Process.SlaBreached"]


def test_leaving_the_stage_cancels_its_timers(handle):
    process_id = triaged_on_friday(handle)
    staffed(handle)
    handle.given("move-process", as_role="lead", process_id=process_id, transition="drop")
    timers = handle.service.process_timers(Principal.system("test-scheduler"))
    assert timers.fire([UUID(process_id)], datetime(2026, 12, 9, tzinfo=PARIS)) == []
    assert handle.load(Process, process_id).next_timer_at is None


def test_only_bsdflows_own_automation_records_timers(handle):
    with pytest.raises(Forbidden):
        handle.service.process_timers(
            Principal(actor="eve", tenant_slug="acme", roles=frozenset({"admin"}))
        )

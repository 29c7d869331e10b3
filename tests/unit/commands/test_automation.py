"""Automation commands in memory: the action catalog, process actions, and runs."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import orjson
import pytest

from commands.auth import Forbidden
from commands.registered import COMMANDS
from commands.service import request_hash
from domain.action_catalog import ActionCatalogItem
from domain.action_run import ActionRun
from domain.errors import Conflict, InvalidInput, NotFound
from domain.fields import DataInvalid
from domain.ids import tenant_id_for
from domain.occurrence_kind import OccurrenceKind
from domain.process_action import ProcessAction
from infra.secrets import FernetSecretBox

SECRET = "hook-signing-s3cret"
WEBHOOK = {
    "channel": "webhook",
    "template": {"body": "severity {{ occurrence.data.severity }}"},
    "config": {"url": "https://hooks.example.org/in"},
    "credentials": {"secret": SECRET},
}
INCIDENT = {"on": "occurrence_recorded", "kind": "incident"}
SEVERE = {">=": [{"var": "data.severity"}, 3]}
AT_NINE = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


def created(handle, name="Page on-call", **body) -> str:
    return str(handle.given("create-action", name=name, **{**WEBHOOK, **body}).id)


def incident_kind(handle) -> str:
    fields = [
        {"name": "severity", "type": "integer"},
        {"name": "summary", "type": "text"},
        {"name": "due", "type": "date"},
    ]
    return str(handle.given("define-occurrence-kind", name="incident", fields=fields).id)


def attached(handle, **body) -> str:
    incident_kind(handle)
    action_id = created(handle)
    body = {"name": "Severe", "action_id": action_id, "trigger": INCIDENT, **body}
    return str(handle.given("attach-process-action", **body).id)


def planned(handle, process_action_id: str, trigger_key="occurrence:1") -> str:
    run = handle.given(
        "plan-action-run",
        as_role="automation",
        process_action_id=process_action_id,
        trigger_key=trigger_key,
        planned_at=AT_NINE,
    )
    return str(run.id)


def globex(handle) -> None:
    handle.given("create-tenant", as_role="platform", slug="globex", name="Globex")


def stored_text(handle) -> str:
    return orjson.dumps([event.data for event in handle.events]).decode()


# create-action


def test_an_action_is_created_with_its_name_claimed(handle):
    body = {**WEBHOOK, "channel": "Webhook"}
    recorded = handle("create-action", as_role="admin", name=" Page on-call ", **body)
    assert handle.then == ["ActionCatalogItem.Created", "UniqueClaim.Claimed"]
    assert (recorded.version, recorded.position) == (1, 3)
    assert {(e.meta["command"], e.meta["actor"]) for e in handle.events} == {
        ("create-action", "tester")
    }
    item = handle.load(ActionCatalogItem, recorded.id)
    assert (item.name, item.channel, item.retired) == ("Page on-call", "webhook", False)
    assert item.template == {"subject": None, "body": WEBHOOK["template"]["body"]}
    assert item.config == {"url": "https://hooks.example.org/in"}
    assert item.retry == {"max_attempts": 5, "backoff_seconds": 30.0, "max_backoff_seconds": 3600.0}


def test_credentials_are_stored_only_as_ciphertext_of_this_tenant(handle):
    recorded = handle("create-action", as_role="admin", name="Page on-call", **WEBHOOK)
    assert SECRET not in stored_text(handle)
    sealed = handle.load(ActionCatalogItem, recorded.id).credentials
    box = FernetSecretBox("unit-test-key")
    assert box.open(tenant_id_for("acme"), sealed) == {"secret": SECRET}
    with pytest.raises(ValueError, match="cannot be decrypted"):
        box.open(tenant_id_for("globex"), sealed)


def test_an_action_without_credentials_holds_none(handle):
    body = {k: v for k, v in WEBHOOK.items() if k != "credentials"}
    recorded = handle("create-action", as_role="admin", name="Open hook", **body)
    assert handle.load(ActionCatalogItem, recorded.id).credentials is None


@pytest.mark.parametrize("role", ["editor", "viewer", "automation"])
def test_only_an_admin_may_create_an_action(handle, role):
    with pytest.raises(Forbidden, match="automation:write"):
        handle("create-action", as_role=role, name="Page on-call", **WEBHOOK)
    assert handle.then == []


def test_an_action_name_is_taken_whatever_its_case_and_spacing(handle):
    created(handle, "Page on-call")
    with pytest.raises(InvalidInput, match="already exists") as refused:
        handle("create-action", as_role="admin", name="  page   ON-CALL ", **WEBHOOK)
    assert refused.value.path == ("name",)
    assert handle.then == []


def test_another_tenant_may_use_the_same_action_name(handle):
    created(handle, "Page on-call")
    globex(handle)
    handle("create-action", as_role="admin", tenant="globex", name="Page on-call", **WEBHOOK)
    assert handle.then == ["ActionCatalogItem.Created", "UniqueClaim.Claimed"]


def test_a_retired_actions_name_can_be_taken_again(handle):
    action_id = created(handle, "Page on-call")
    handle.given("retire-action", action_id=action_id)
    recorded = handle("create-action", as_role="admin", name="page on-call", **WEBHOOK)
    assert handle.then == ["ActionCatalogItem.Created", "UniqueClaim.Reclaimed"]
    assert recorded.id != action_id


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"name": "  "}, ("name",)),
        ({"channel": ""}, ("channel",)),
        ({"template": {"body": ""}}, ("template", "body")),
        ({"template": {"body": "hi", "footer": "x"}}, ("template", "footer")),
        ({"template": {"body": "hi", "subject": "s" * 999}}, ("template", "subject")),
        ({"retry": {"max_attempts": 0}}, ("retry", "max_attempts")),
        ({"retry": {"max_attempts": 3, "tries": 3}}, ("retry", "tries")),
        ({"retry": {"backoff_seconds": 0.01}}, ("retry", "backoff_seconds")),
        (
            {"retry": {"backoff_seconds": 60, "max_backoff_seconds": 30}},
            ("retry", "max_backoff_seconds"),
        ),
    ],
)
def test_an_invalid_action_is_refused_with_the_path_of_the_fault(handle, body, path):
    with pytest.raises(InvalidInput) as refused:
        handle("create-action", as_role="admin", **{"name": "Page on-call", **WEBHOOK, **body})
    assert refused.value.path == path
    assert handle.then == []


def test_a_template_that_cannot_be_stored_is_refused_before_the_handler(handle):
    template = {"body": "severity\x00"}
    with pytest.raises(DataInvalid) as refused:
        handle("create-action", as_role="admin", **{"name": "P", **WEBHOOK, "template": template})
    assert [error.path for error in refused.value.errors] == [("template", "body")]
    assert handle.then == []


def test_a_retried_create_answers_the_first_result_rather_than_a_taken_name(handle):
    body = {"name": "Page on-call", **WEBHOOK}
    first = handle("create-action", as_role="admin", idempotency_key="k1", **body)
    again = handle("create-action", as_role="admin", idempotency_key="k1", **body)
    assert again == first
    assert handle.then == [
        "ActionCatalogItem.Created",
        "UniqueClaim.Claimed",
        "CommandReceipt.Issued",
    ]


def test_a_boolean_is_not_a_number_of_attempts(handle):
    with pytest.raises(InvalidInput) as refused:
        handle("create-action", as_role="admin", name="P", **WEBHOOK, retry={"max_attempts": True})
    assert refused.value.path == ("retry", "max_attempts")
    assert handle.then == []


def test_an_idempotent_create_stores_nothing_that_confirms_a_guessed_credential(handle):
    body = {"name": "Page on-call", **WEBHOOK}
    handle("create-action", as_role="admin", idempotency_key="k1", **body)
    model = COMMANDS["create-action"].model
    guess = request_hash("create-action", model.model_validate(body), None)
    assert guess not in stored_text(handle)


# revise-action


def test_revising_an_action_changes_only_what_is_given(handle):
    action_id = created(handle)
    before = handle.load(ActionCatalogItem, action_id)
    recorded = handle(
        "revise-action", as_role="admin", action_id=action_id, retry={"max_attempts": 2}
    )
    assert handle.then == ["ActionCatalogItem.Revised"]
    assert recorded.version == 2
    item = handle.load(ActionCatalogItem, action_id)
    assert item.retry == {"max_attempts": 2, "backoff_seconds": 30.0, "max_backoff_seconds": 3600.0}
    assert (item.template, item.config, item.credentials) == (
        before.template,
        before.config,
        before.credentials,
    )


def test_revised_template_config_and_credentials_replace_the_old_ones(handle):
    action_id = created(handle)
    handle(
        "revise-action",
        as_role="admin",
        action_id=action_id,
        template={"subject": "Alert", "body": "new"},
        config={"url": "https://hooks.example.org/v2"},
        credentials={"secret": "rotated-s3cret"},
    )
    assert "rotated-s3cret" not in stored_text(handle)
    item = handle.load(ActionCatalogItem, action_id)
    assert item.template == {"subject": "Alert", "body": "new"}
    assert item.config == {"url": "https://hooks.example.org/v2"}
    opened = FernetSecretBox("unit-test-key").open(tenant_id_for("acme"), item.credentials)
    assert opened == {"secret": "rotated-s3cret"}


def test_an_editor_may_not_revise_an_action(handle):
    action_id = created(handle)
    with pytest.raises(Forbidden):
        handle("revise-action", action_id=action_id, template={"body": "hi"})
    assert handle.then == []


def test_revising_another_tenants_or_a_missing_action_is_not_found(handle):
    action_id = created(handle)
    globex(handle)
    for unknown in (action_id, str(uuid4())):
        with pytest.raises(NotFound, match="no action with this id") as refused:
            handle(
                "revise-action",
                as_role="admin",
                tenant="globex",
                action_id=unknown,
                template={"body": "hi"},
            )
        assert refused.value.path == ("action_id",)
    assert handle.then == []


def test_revising_an_action_at_a_stale_version_is_a_conflict(handle):
    action_id = created(handle)
    handle.given("revise-action", action_id=action_id, retry={"max_attempts": 2})
    with pytest.raises(Conflict, match="expected version 1, but it is at 2") as refused:
        handle(
            "revise-action",
            as_role="admin",
            action_id=action_id,
            template={"body": "hi"},
            expected_version=1,
        )
    assert refused.value.path == ("expected_version",)
    assert handle.then == []


def test_a_revision_with_an_invalid_template_or_retry_is_refused(handle):
    action_id = created(handle)
    with pytest.raises(InvalidInput) as refused:
        handle("revise-action", as_role="admin", action_id=action_id, template={"text": "hi"})
    assert refused.value.path == ("template", "text")
    with pytest.raises(InvalidInput) as refused:
        handle("revise-action", as_role="admin", action_id=action_id, retry={"max_attempts": 21})
    assert refused.value.path == ("retry", "max_attempts")
    assert handle.then == []


def test_a_retired_action_cannot_be_revised(handle):
    action_id = created(handle)
    handle.given("retire-action", action_id=action_id)
    with pytest.raises(Conflict, match="'Page on-call' is retired"):
        handle("revise-action", as_role="admin", action_id=action_id, template={"body": "hi"})
    assert handle.then == []


# retire-action


def test_retiring_an_action_releases_its_name(handle):
    action_id = created(handle)
    handle("retire-action", as_role="admin", action_id=action_id)
    assert handle.then == ["ActionCatalogItem.Retired", "UniqueClaim.Released"]
    assert handle.load(ActionCatalogItem, action_id).retired is True


def test_an_action_is_retired_only_once(handle):
    action_id = created(handle)
    handle.given("retire-action", action_id=action_id)
    with pytest.raises(Conflict, match="already retired"):
        handle("retire-action", as_role="admin", action_id=action_id)
    assert handle.then == []


def test_an_editor_may_not_retire_an_action(handle):
    action_id = created(handle)
    with pytest.raises(Forbidden):
        handle("retire-action", action_id=action_id)
    assert handle.then == []


def test_retiring_another_tenants_action_is_not_found(handle):
    action_id = created(handle)
    globex(handle)
    with pytest.raises(NotFound, match="no action with this id") as refused:
        handle("retire-action", as_role="admin", tenant="globex", action_id=action_id)
    assert refused.value.path == ("action_id",)
    assert handle.then == []
    assert handle.load(ActionCatalogItem, action_id).retired is False


def test_retiring_at_a_stale_version_is_a_conflict(handle):
    action_id = created(handle)
    with pytest.raises(Conflict, match="expected version 2"):
        handle("retire-action", as_role="admin", action_id=action_id, expected_version=2)
    assert handle.then == []


# attach-process-action


def test_a_process_action_is_attached_to_an_occurrence_trigger(handle):
    incident_kind(handle)
    action_id = created(handle)
    recorded = handle(
        "attach-process-action",
        as_role="admin",
        name=" Severe ",
        action_id=action_id,
        trigger=INCIDENT,
        condition=SEVERE,
    )
    assert handle.then == ["ProcessAction.Attached"]
    action = handle.load(ProcessAction, recorded.id)
    assert (action.name, str(action.action_id), action.paused) == ("Severe", action_id, False)
    assert action.trigger == INCIDENT
    assert action.condition == SEVERE
    assert action.schedule == {"type": "immediate"}
    assert action.catch_up == {"policy": "once", "window": "PT1H"}


def test_an_editor_may_not_attach_a_process_action(handle):
    incident_kind(handle)
    action_id = created(handle)
    with pytest.raises(Forbidden):
        handle("attach-process-action", name="Severe", action_id=action_id, trigger=INCIDENT)
    assert handle.then == []


def test_a_trigger_naming_an_undefined_occurrence_kind_is_refused(handle):
    action_id = created(handle)
    with pytest.raises(InvalidInput, match="no occurrence kind named 'incident'") as refused:
        handle(
            "attach-process-action",
            as_role="admin",
            name="Severe",
            action_id=action_id,
            trigger=INCIDENT,
        )
    assert refused.value.path == ("trigger", "kind")
    assert handle.then == []


def test_another_tenants_occurrence_kind_does_not_count(handle):
    incident_kind(handle)
    globex(handle)
    action = handle.given("create-action", tenant="globex", name="Page", **WEBHOOK)
    with pytest.raises(InvalidInput) as refused:
        handle(
            "attach-process-action",
            as_role="admin",
            tenant="globex",
            name="Severe",
            action_id=action.id,
            trigger=INCIDENT,
        )
    assert refused.value.path == ("trigger", "kind")
    assert handle.then == []


@pytest.mark.parametrize(
    ("condition", "path", "message"),
    [
        (
            {"and": [{">=": [{"var": "data.sevrity"}, 3]}]},
            ("condition", "and", 0, ">=", 0, "var"),
            "did you mean data.severity",
        ),
        ({">=": [{"var": "data.summary"}, 3]}, ("condition", ">="), "data.summary"),
        ({"severity_at_least": [3]}, ("condition", "severity_at_least"), "severity_at_least"),
        ({"changed": ["data.severity"]}, ("condition", "changed"), "entity_changed"),
    ],
)
def test_a_condition_is_checked_against_the_fields_of_the_trigger(handle, condition, path, message):
    incident_kind(handle)
    action_id = created(handle)
    with pytest.raises(InvalidInput, match=message) as refused:
        handle(
            "attach-process-action",
            as_role="admin",
            name="Severe",
            action_id=action_id,
            trigger=INCIDENT,
            condition=condition,
        )
    assert refused.value.path[: len(path)] == path
    assert handle.then == []


def test_an_entity_trigger_needs_an_entity_type_of_the_tenant(handle):
    action_id = created(handle)
    trigger = {"on": "entity_changed", "entity_type_id": str(uuid4())}
    with pytest.raises(NotFound, match="no entity type with this id") as refused:
        handle(
            "attach-process-action",
            as_role="admin",
            name="Pump broke",
            action_id=action_id,
            trigger=trigger,
        )
    assert refused.value.path == ("trigger", "entity_type_id")
    assert handle.then == []


def test_a_change_condition_fits_an_entity_changed_trigger(handle):
    pump = handle.given(
        "define-entity-type", name="Pump", fields=[{"name": "status", "type": "text"}]
    )
    action_id = created(handle)
    trigger = {"on": "entity_changed", "entity_type_id": str(pump.id)}
    recorded = handle(
        "attach-process-action",
        as_role="admin",
        name="Pump broke",
        action_id=action_id,
        trigger=trigger,
        condition={"changed_to": ["data.status", "broken"]},
    )
    assert handle.then == ["ProcessAction.Attached"]
    assert handle.load(ProcessAction, recorded.id).trigger == trigger
    with pytest.raises(InvalidInput) as refused:
        handle(
            "attach-process-action",
            as_role="admin",
            name="Pump odd",
            action_id=action_id,
            trigger=trigger,
            condition={"changed_to": ["data.colour", "red"]},
        )
    assert refused.value.path[0] == "condition"
    assert handle.then == ["ProcessAction.Attached"]


@pytest.mark.parametrize(
    ("trigger", "path"),
    [
        ({"on": "email_received"}, ("trigger", "on")),
        ({"on": "stage_entered", "stage": "review"}, ("trigger", "process_kind")),
        ({"on": "schedule", "kind": "incident"}, ("trigger", "kind")),
        ({"on": "entity_created", "entity_type_id": "pumps"}, ("trigger", "entity_type_id")),
    ],
)
def test_a_malformed_trigger_is_refused_with_its_path(handle, trigger, path):
    action_id = created(handle)
    with pytest.raises(InvalidInput) as refused:
        handle(
            "attach-process-action", as_role="admin", name="X", action_id=action_id, trigger=trigger
        )
    assert refused.value.path == path
    assert handle.then == []


def test_a_clock_trigger_takes_a_recurring_schedule(handle):
    action_id = created(handle)
    recorded = handle(
        "attach-process-action",
        as_role="admin",
        name="Every minute",
        action_id=action_id,
        trigger={"on": "schedule"},
        schedule={"type": "cron", "cron": "* * * * *"},
        catch_up={"policy": "all", "window": "PT2H"},
    )
    action = handle.load(ProcessAction, recorded.id)
    assert action.schedule["type"] == "cron"
    assert action.catch_up == {"policy": "all", "window": "PT2H"}


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"trigger": {"on": "schedule"}}, ("schedule", "type")),
        (
            {"trigger": {"on": "schedule"}, "schedule": {"type": "cron", "cron": "* * * * *"}}
            | {"condition": SEVERE},
            ("condition",),
        ),
        ({"schedule": {"type": "cron", "cron": "* * * * *"}}, ("schedule", "type")),
        ({"schedule": {"type": "relative", "to": "data.summary"}}, ("schedule", "to")),
        ({"schedule": {"type": "weekly"}}, ("schedule", "type")),
        ({"catch_up": {"policy": "never"}}, ("catch_up", "policy")),
        ({"name": ""}, ("name",)),
    ],
)
def test_a_schedule_or_catch_up_that_does_not_fit_the_trigger_is_refused(handle, body, path):
    incident_kind(handle)
    action_id = created(handle)
    body = {"name": "Later", "action_id": action_id, "trigger": INCIDENT, **body}
    with pytest.raises(InvalidInput) as refused:
        handle("attach-process-action", as_role="admin", **body)
    assert refused.value.path == path
    assert handle.then == []


def test_a_relative_schedule_may_count_from_a_date_field(handle):
    incident_kind(handle)
    action_id = created(handle)
    schedule = {"type": "relative", "to": "data.due", "offset": "-P1D"}
    recorded = handle(
        "attach-process-action",
        as_role="admin",
        name="Day before",
        action_id=action_id,
        trigger=INCIDENT,
        schedule=schedule,
    )
    assert handle.load(ProcessAction, recorded.id).schedule["to"] == "data.due"


def test_a_retired_action_cannot_be_attached(handle):
    incident_kind(handle)
    action_id = created(handle)
    handle.given("retire-action", action_id=action_id)
    with pytest.raises(Conflict, match="is retired") as refused:
        handle(
            "attach-process-action",
            as_role="admin",
            name="Severe",
            action_id=action_id,
            trigger=INCIDENT,
        )
    assert refused.value.path == ("action_id",)
    assert handle.then == []


def test_attaching_another_tenants_or_a_missing_action_is_not_found(handle):
    action_id = created(handle)
    globex(handle)
    handle.given("define-occurrence-kind", tenant="globex", name="incident", fields=[])
    for unknown in (action_id, str(uuid4())):
        with pytest.raises(NotFound, match="no action with this id") as refused:
            handle(
                "attach-process-action",
                as_role="admin",
                tenant="globex",
                name="Steal",
                action_id=unknown,
                trigger=INCIDENT,
            )
        assert refused.value.path == ("action_id",)
    assert handle.then == []


# revise-process-action


def test_revising_a_process_action_replaces_condition_schedule_and_catch_up(handle):
    process_action_id = attached(handle, condition=SEVERE)
    recorded = handle(
        "revise-process-action",
        as_role="admin",
        process_action_id=process_action_id,
        condition={">=": [{"var": "data.severity"}, 4]},
        schedule={"type": "relative", "to": "trigger", "offset": "PT1H"},
        catch_up={"policy": "skip"},
    )
    assert handle.then == ["ProcessAction.Revised"]
    assert recorded.version == 2
    action = handle.load(ProcessAction, process_action_id)
    assert action.condition == {">=": [{"var": "data.severity"}, 4]}
    assert action.schedule == {"type": "relative", "to": "trigger", "offset": "PT1H"}
    assert action.catch_up["policy"] == "skip"
    assert action.trigger == INCIDENT


def test_what_a_revision_leaves_out_returns_to_the_defaults(handle):
    process_action_id = attached(
        handle, condition=SEVERE, schedule={"type": "relative", "to": "trigger", "offset": "PT1H"}
    )
    handle("revise-process-action", as_role="admin", process_action_id=process_action_id)
    action = handle.load(ProcessAction, process_action_id)
    assert (action.condition, action.schedule) == (None, {"type": "immediate"})


def test_a_revised_condition_is_checked_against_the_current_fields_of_the_kind(handle):
    process_action_id = attached(handle)
    condition = {"==": [{"var": "data.site"}, "Depot"]}
    with pytest.raises(InvalidInput, match="unknown field 'site'") as refused:
        handle(
            "revise-process-action",
            as_role="admin",
            process_action_id=process_action_id,
            condition=condition,
        )
    assert refused.value.path == ("condition", "==", 0, "var")
    assert handle.then == []
    handle.given(
        "revise-occurrence-kind",
        occurrence_kind_id=OccurrenceKind.create_id(tenant_id_for("acme"), "incident"),
        fields=[{"name": "severity", "type": "integer"}, {"name": "site", "type": "text"}],
    )
    handle(
        "revise-process-action",
        as_role="admin",
        process_action_id=process_action_id,
        condition=condition,
    )
    assert handle.then == ["ProcessAction.Revised"]


def test_a_clock_triggered_action_keeps_needing_a_recurring_schedule(handle):
    action_id = created(handle)
    process_action_id = handle.given(
        "attach-process-action",
        name="Every minute",
        action_id=action_id,
        trigger={"on": "schedule"},
        schedule={"type": "cron", "cron": "* * * * *"},
    ).id
    with pytest.raises(InvalidInput) as refused:
        handle("revise-process-action", as_role="admin", process_action_id=process_action_id)
    assert refused.value.path == ("schedule", "type")
    assert handle.then == []


def test_an_editor_may_not_revise_a_process_action(handle):
    process_action_id = attached(handle)
    with pytest.raises(Forbidden):
        handle("revise-process-action", process_action_id=process_action_id)
    assert handle.then == []


def test_revising_another_tenants_or_a_missing_process_action_is_not_found(handle):
    process_action_id = attached(handle)
    globex(handle)
    for unknown in (process_action_id, str(uuid4())):
        with pytest.raises(NotFound, match="no process action with this id") as refused:
            handle(
                "revise-process-action",
                as_role="admin",
                tenant="globex",
                process_action_id=unknown,
            )
        assert refused.value.path == ("process_action_id",)
    assert handle.then == []


def test_revising_a_process_action_at_a_stale_version_is_a_conflict(handle):
    process_action_id = attached(handle)
    handle.given("pause-process-action", process_action_id=process_action_id)
    with pytest.raises(Conflict, match="expected version 1, but it is at 2"):
        handle(
            "revise-process-action",
            as_role="admin",
            process_action_id=process_action_id,
            expected_version=1,
        )
    assert handle.then == []


# pause-process-action, resume-process-action


def test_a_process_action_is_paused_and_resumed(handle):
    process_action_id = attached(handle)
    handle("pause-process-action", as_role="admin", process_action_id=process_action_id)
    assert handle.load(ProcessAction, process_action_id).paused is True
    handle("resume-process-action", as_role="admin", process_action_id=process_action_id)
    assert handle.load(ProcessAction, process_action_id).paused is False
    assert handle.then == ["ProcessAction.Paused", "ProcessAction.Resumed"]


def test_pausing_twice_is_a_conflict(handle):
    process_action_id = attached(handle)
    handle.given("pause-process-action", process_action_id=process_action_id)
    with pytest.raises(Conflict, match="already paused"):
        handle("pause-process-action", as_role="admin", process_action_id=process_action_id)
    assert handle.then == []


def test_resuming_an_action_that_is_not_paused_is_a_conflict(handle):
    process_action_id = attached(handle)
    with pytest.raises(Conflict, match="not paused"):
        handle("resume-process-action", as_role="admin", process_action_id=process_action_id)
    assert handle.then == []


@pytest.mark.parametrize("command", ["pause-process-action", "resume-process-action"])
def test_an_editor_may_not_pause_or_resume(handle, command):
    process_action_id = attached(handle)
    with pytest.raises(Forbidden):
        handle(command, process_action_id=process_action_id)
    assert handle.then == []


@pytest.mark.parametrize("command", ["pause-process-action", "resume-process-action"])
def test_pausing_or_resuming_another_tenants_process_action_is_not_found(handle, command):
    process_action_id = attached(handle)
    handle.given("pause-process-action", process_action_id=process_action_id)
    globex(handle)
    with pytest.raises(NotFound, match="no process action with this id") as refused:
        handle(command, as_role="admin", tenant="globex", process_action_id=process_action_id)
    assert refused.value.path == ("process_action_id",)
    assert handle.then == []


@pytest.mark.parametrize("command", ["pause-process-action", "resume-process-action"])
def test_pausing_or_resuming_at_a_stale_version_is_a_conflict(handle, command):
    process_action_id = attached(handle)
    handle.given("pause-process-action", process_action_id=process_action_id)
    handle.given("resume-process-action", process_action_id=process_action_id)
    if command == "resume-process-action":
        handle.given("pause-process-action", process_action_id=process_action_id)
    with pytest.raises(Conflict, match="expected version 2") as refused:
        handle(command, as_role="admin", process_action_id=process_action_id, expected_version=2)
    assert refused.value.path == ("expected_version",)
    assert handle.then == []


# plan-action-run


def test_the_automation_role_plans_a_run_with_the_actions_retry_policy(handle):
    process_action_id = attached(handle)
    action_id = str(handle.load(ProcessAction, process_action_id).action_id)
    handle.given("revise-action", action_id=action_id, retry={"max_attempts": 2})
    recorded = handle(
        "plan-action-run",
        as_role="automation",
        process_action_id=process_action_id,
        trigger_key="occurrence:1",
        planned_at=AT_NINE,
        context={"occurrence": {"data": {"severity": 4}}},
    )
    assert handle.then == ["ActionRun.Planned"]
    run = handle.load(ActionRun, recorded.id)
    assert run.id == ActionRun.create_id(run.process_action_id, "occurrence:1")
    assert (str(run.process_action_id), str(run.action_id)) == (process_action_id, action_id)
    assert (run.status, run.attempts, run.planned_at, run.due_at) == (
        "planned",
        0,
        AT_NINE,
        AT_NINE,
    )
    assert run.context == {"occurrence": {"data": {"severity": 4}}}
    assert run.retry["max_attempts"] == 2


def test_planning_the_same_trigger_twice_returns_the_existing_run(handle):
    process_action_id = attached(handle)
    first = handle(
        "plan-action-run",
        as_role="automation",
        process_action_id=process_action_id,
        trigger_key="occurrence:1",
        planned_at=AT_NINE,
    )
    again = handle(
        "plan-action-run",
        as_role="automation",
        process_action_id=process_action_id,
        trigger_key="occurrence:1",
        planned_at=datetime(2031, 6, 1, tzinfo=UTC),
    )
    assert again == first
    assert handle.then == ["ActionRun.Planned"]
    assert handle.load(ActionRun, first.id).planned_at == AT_NINE


def test_a_redelivered_trigger_finds_its_run_even_after_the_action_was_retired(handle):
    process_action_id = attached(handle)
    run_id = planned(handle, process_action_id)
    action_id = str(handle.load(ProcessAction, process_action_id).action_id)
    handle.given("retire-action", action_id=action_id)
    again = handle(
        "plan-action-run",
        as_role="automation",
        process_action_id=process_action_id,
        trigger_key="occurrence:1",
        planned_at=AT_NINE,
    )
    assert (str(again.id), again.version) == (run_id, 1)
    assert handle.then == []


def test_another_trigger_of_the_same_action_is_another_run(handle):
    process_action_id = attached(handle)
    first = planned(handle, process_action_id, "occurrence:1")
    second = planned(handle, process_action_id, "occurrence:2")
    assert first != second


@pytest.mark.parametrize("role", ["admin", "editor", "viewer"])
def test_only_the_automation_role_plans_runs(handle, role):
    process_action_id = attached(handle)
    with pytest.raises(Forbidden, match="automation:run"):
        handle(
            "plan-action-run",
            as_role=role,
            process_action_id=process_action_id,
            trigger_key="manual:1",
            planned_at=AT_NINE,
        )
    assert handle.then == []


def test_a_planned_time_without_a_timezone_is_refused(handle):
    process_action_id = attached(handle)
    with pytest.raises(InvalidInput, match="timezone offset") as refused:
        handle(
            "plan-action-run",
            as_role="automation",
            process_action_id=process_action_id,
            trigger_key="manual:1",
            planned_at=datetime(2030, 1, 1, 9, 0),
        )
    assert refused.value.path == ("planned_at",)
    assert handle.then == []


def test_a_paused_process_action_plans_no_run(handle):
    process_action_id = attached(handle)
    handle.given("pause-process-action", process_action_id=process_action_id)
    with pytest.raises(Conflict, match="paused") as refused:
        handle(
            "plan-action-run",
            as_role="automation",
            process_action_id=process_action_id,
            trigger_key="occurrence:2",
            planned_at=AT_NINE,
        )
    assert refused.value.path == ("process_action_id",)
    assert handle.then == []


def test_a_new_run_of_a_retired_action_is_refused(handle):
    process_action_id = attached(handle)
    action_id = str(handle.load(ProcessAction, process_action_id).action_id)
    handle.given("retire-action", action_id=action_id)
    with pytest.raises(Conflict, match="'Page on-call' is retired"):
        handle(
            "plan-action-run",
            as_role="automation",
            process_action_id=process_action_id,
            trigger_key="occurrence:2",
            planned_at=AT_NINE,
        )
    assert handle.then == []


def test_planning_for_another_tenants_or_a_missing_process_action_is_not_found(handle):
    process_action_id = attached(handle)
    globex(handle)
    for unknown in (process_action_id, str(uuid4())):
        with pytest.raises(NotFound, match="no process action with this id") as refused:
            handle(
                "plan-action-run",
                as_role="automation",
                tenant="globex",
                process_action_id=unknown,
                trigger_key="occurrence:1",
                planned_at=AT_NINE,
            )
        assert refused.value.path == ("process_action_id",)
    assert handle.then == []


# cancel-action-run


def test_an_editor_cancels_a_planned_run(handle):
    run_id = planned(handle, attached(handle))
    handle("cancel-action-run", run_id=run_id, reason="not needed after all")
    assert handle.then == ["ActionRun.Cancelled"]
    run = handle.load(ActionRun, run_id)
    assert (run.status, run.last_error) == ("cancelled", "not needed after all")


def moved_on(handle, run_id: str, outcome: bool | None, retryable=False) -> str:
    """The run as the scheduler leaves it: started, then delivered or failed (None: sending)."""
    run = handle.load(ActionRun, run_id)
    run.start(AT_NINE, fence=1)
    if outcome is True:
        run.deliver(AT_NINE, "msg-1", "202 Accepted")
    elif outcome is False:
        run.fail(AT_NINE, "503 Service Unavailable", retryable=retryable, jitter=0.0)
    handle.store.given(run)
    return run.status


def test_a_retrying_run_can_still_be_cancelled(handle):
    run_id = planned(handle, attached(handle))
    assert moved_on(handle, run_id, False, retryable=True) == "retrying"
    handle("cancel-action-run", run_id=run_id)
    assert handle.then == ["ActionRun.Cancelled"]
    run = handle.load(ActionRun, run_id)
    assert (run.status, run.last_error) == ("cancelled", "cancelled by a user")


@pytest.mark.parametrize(
    ("outcome", "status"), [(None, "sending"), (True, "delivered"), (False, "dead")]
)
def test_a_run_that_is_sending_or_finished_cannot_be_cancelled(handle, outcome, status):
    run_id = planned(handle, attached(handle))
    assert moved_on(handle, run_id, outcome) == status
    with pytest.raises(Conflict, match=f"run is {status}; only planned or retrying"):
        handle("cancel-action-run", run_id=run_id)
    assert handle.then == []
    assert handle.load(ActionRun, run_id).status == status


def test_a_run_is_cancelled_only_once(handle):
    run_id = planned(handle, attached(handle))
    handle.given("cancel-action-run", run_id=run_id)
    with pytest.raises(Conflict, match="run is cancelled"):
        handle("cancel-action-run", run_id=run_id)
    assert handle.then == []


@pytest.mark.parametrize("role", ["viewer", "automation"])
def test_a_viewer_or_the_automation_role_may_not_cancel_a_run(handle, role):
    run_id = planned(handle, attached(handle))
    with pytest.raises(Forbidden, match="automation:operate"):
        handle("cancel-action-run", as_role=role, run_id=run_id)
    assert handle.then == []


def test_cancelling_another_tenants_or_a_missing_run_is_not_found(handle):
    run_id = planned(handle, attached(handle))
    globex(handle)
    for unknown in (run_id, str(uuid4())):
        with pytest.raises(NotFound, match="no action run with this id") as refused:
            handle("cancel-action-run", tenant="globex", run_id=unknown)
        assert refused.value.path == ("run_id",)
    assert handle.then == []
    assert handle.load(ActionRun, run_id).status == "planned"


def test_cancelling_a_run_at_a_stale_version_is_a_conflict(handle):
    run_id = planned(handle, attached(handle))
    with pytest.raises(Conflict, match="expected version 2, but it is at 1"):
        handle("cancel-action-run", run_id=run_id, expected_version=2)
    assert handle.then == []

"""Every registered command, accepted over HTTP, and its effect visible on the aggregate."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from automation.imports.runner import ImportRunner
from commands.auth import Principal
from commands.registered import COMMANDS
from domain.access import Member, Role
from domain.action_catalog import ActionCatalogItem
from domain.action_run import ActionRun
from domain.api_key import ApiKey
from domain.document import Document
from domain.entity import Entity
from domain.entity_type import EntityType
from domain.group import Group
from domain.import_job import ImportJob
from domain.occurrence import Occurrence
from domain.occurrence_kind import OccurrenceKind
from domain.participant import Participant
from domain.process import Process
from domain.process_action import ProcessAction
from domain.tenant import Tenant
from eventstore import Aggregate
from tests.servers import SECRET

SITE_FIELDS = [
    {"name": "title", "type": "text", "required": True, "searchable": "A"},
    {"name": "code", "type": "text", "unique": True},
    {"name": "population", "type": "integer", "constraints": {"min": 0}},
]
exercised: set[str] = set()


async def run(api: Any, command: str, **body: Any) -> Any:
    exercised.add(command)
    return await api.command(command, **body)


def load(api: Any, aggregate_id: str) -> Any:
    return api.runtime.store.find(Aggregate, UUID(aggregate_id))


async def test_tenant_commands(api):
    renamed = await run(api, "rename-tenant", name="Acme Holdings")
    await run(
        api, "change-tenant-settings", settings={"timezone": "Europe/Paris", "locale": "fr-FR"}
    )
    tenant: Tenant = load(api, renamed.id)
    assert (tenant.name, tenant.settings["timezone"], tenant.settings["locale"]) == (
        "Acme Holdings",
        "Europe/Paris",
        "fr-FR",
    )
    assert "create-tenant" in set(COMMANDS)  # exercised by the api fixture
    exercised.add("create-tenant")


async def test_entity_type_and_entity_lifecycle(api):
    site = await run(api, "define-entity-type", name="Site", fields=SITE_FIELDS)
    revised = await run(
        api,
        "revise-entity-type",
        entity_type_id=site.id,
        fields=[*SITE_FIELDS, {"name": "opened", "type": "date"}],
        expected_version=1,
    )
    assert load(api, site.id).schema_version == 2
    assert revised.body["version"] == 2

    created = await run(
        api,
        "create-entity",
        entity_type_id=site.id,
        data={"title": "Jerusalem depot", "code": "JRS", "population": 12},
        location={"lat": 31.77, "lon": 35.21},
    )
    updated = await run(
        api, "update-entity", entity_id=created.id, data={"population": 13}, expected_version=1
    )
    assert updated.position > created.position
    entity: Entity = load(api, created.id)
    assert entity.data == {"title": "Jerusalem depot", "code": "JRS", "population": 13}
    assert entity.schema_version == 2

    person_type = await api.command(
        "define-entity-type",
        name="Contact",
        fields=[*SITE_FIELDS[:1], {"name": "mobile", "type": "phone", "personal": True}],
    )
    contact = await api.command(
        "create-entity",
        entity_type_id=person_type.id,
        data={"title": "C-1", "mobile": "+49 30 1234567"},
    )
    await run(api, "forget-entity", entity_id=contact.id)
    assert load(api, contact.id).data == {"title": "C-1"}

    await run(api, "archive-entity", entity_id=created.id)
    assert load(api, created.id).archived
    await run(api, "retire-entity-type", entity_type_id=site.id)
    retired: EntityType = load(api, site.id)
    assert retired.retired


async def test_groups_and_participants(api):
    site = await api.command("define-entity-type", name="Site", fields=SITE_FIELDS)
    entity = await api.command("create-entity", entity_type_id=site.id, data={"title": "A"})
    person = await run(
        api,
        "register-participant",
        name="Dana Levi",
        email="Dana@Example.ORG",
        phone="+972 50-123-4567",
    )
    await run(api, "update-participant", participant_id=person.id, changes={"external_ref": "HR-7"})
    participant: Participant = load(api, person.id)
    assert (participant.email, participant.phone, participant.external_ref) == (
        "Dana@example.org",
        "+972501234567",
        "HR-7",
    )

    group = await run(api, "create-group", name="North region")
    await run(api, "rename-group", group_id=group.id, name="North")
    await run(
        api,
        "add-group-members",
        group_id=group.id,
        entity_ids=[entity.id],
        participant_ids=[person.id],
    )
    await run(api, "remove-group-members", group_id=group.id, participant_ids=[person.id])
    loaded: Group = load(api, group.id)
    assert (loaded.name, loaded.entity_ids, loaded.participant_ids) == (
        "North",
        [UUID(entity.id)],
        [],
    )

    await run(api, "forget-participant", participant_id=person.id)
    forgotten: Participant = load(api, person.id)
    assert (forgotten.name, forgotten.email, forgotten.external_ref) == (None, None, "HR-7")


async def test_process_lifecycle(api):
    site = await api.command("define-entity-type", name="Site", fields=SITE_FIELDS)
    entity = await api.command("create-entity", entity_type_id=site.id, data={"title": "A"})
    inspector = await api.command("register-participant", name="Inspector Gadget")
    opened = await run(
        api,
        "open-process",
        kind="inspection",
        title="Site A yearly inspection",
        stages=["new", "visiting", "done"],
        due_at="2026-12-01T09:00:00+02:00",
    )
    await run(api, "enter-stage", process_id=opened.id, stage="visiting", expected_version=1)
    await run(
        api,
        "assign-participant",
        process_id=opened.id,
        participant_id=inspector.id,
        role="inspector",
    )
    await run(api, "link-process-entity", process_id=opened.id, entity_id=entity.id)
    await run(api, "set-process-due", process_id=opened.id, due_at="2026-12-15T09:00:00Z")
    await run(api, "unassign-participant", process_id=opened.id, participant_id=inspector.id)
    closed = await run(api, "close-process", process_id=opened.id, outcome="passed")
    process: Process = load(api, opened.id)
    assert (process.stage, process.status, process.outcome) == ("visiting", "closed", "passed")
    assert process.entity_ids == [UUID(entity.id)]
    assert process.due_at is not None
    assert process.due_at.isoformat() == "2026-12-15T09:00:00+00:00"
    assert closed.body["version"] == 7
    reopened = await run(api, "reopen-process", process_id=opened.id, reason="one more visit")
    process = load(api, opened.id)
    assert (process.stage, process.status, process.outcome) == ("visiting", "open", None)
    assert reopened.body["version"] == 8


async def test_workflow_definitions_and_their_cases(api):
    steps = {
        "key": "permit",
        "name": "Permit",
        "fields": [{"name": "area_m2", "type": "number"}],
        "stages": [
            "requested",
            {"name": "signoff", "approval": {"role": "admin", "rejected_to": "requested"}},
            "granted",
        ],
        "transitions": [
            {"name": "ask", "from": "requested", "to": "signoff", "requires": ["area_m2"]},
            {"name": "grant", "from": "signoff", "to": "granted"},
        ],
    }
    await run(api, "publish-process-definition", **steps)
    opened = await api.command("open-process", definition="permit", title="Shed")
    await run(api, "set-process-data", process_id=opened.id, data={"area_m2": 12.5})
    await run(api, "move-process", process_id=opened.id, transition="ask")
    await run(api, "reject-process", process_id=opened.id, reason="plan missing")
    await api.command("move-process", process_id=opened.id, transition="ask")
    await run(api, "approve-process", process_id=opened.id)
    await run(api, "publish-process-definition", **steps | {"name": "Building permit"})
    migrated = await run(api, "migrate-process", process_id=opened.id)
    moved = await api.command("move-process", process_id=opened.id, transition="grant")
    process = load(api, opened.id)
    assert (process.stage, process.definition_version, process.data) == (
        "granted",
        2,
        {"area_m2": 12.5},
    )
    assert (migrated.body["version"], moved.body["version"]) == (8, 9)
    await run(api, "retire-process-definition", key="permit")


async def test_occurrences(api):
    opened = await api.command("open-process", kind="incident", title="Leak", stages=["open"])
    recorded = await run(
        api,
        "record-occurrence",
        kind="incident",
        occurred_at="2026-11-20T14:30:00+01:00",
        data={"severity": 4},
        location={"lat": 52.37, "lon": 4.89},
        process_id=opened.id,
    )
    await run(api, "retract-occurrence", occurrence_id=recorded.id, reason="duplicate report")
    occurrence: Occurrence = load(api, recorded.id)
    assert occurrence.data == {"severity": 4}
    assert occurrence.retracted == "duplicate report"


async def test_documents(api):
    opened = await api.command("open-process", kind="audit", title="Audit 2026", stages=["open"])
    reply = await api.upload(
        "process", opened.id, b"the pump leaks", title="Findings", filename="findings.txt"
    )
    assert reply.status_code == 200, reply.text
    exercised.add("attach-document")
    document_id = reply.json()["id"]
    await run(api, "rename-document", document_id=document_id, title="Final findings")
    await run(api, "remove-document", document_id=document_id)
    document: Document = load(api, document_id)
    assert (document.title, document.size, document.removed) == ("Final findings", 14, True)


async def test_import_commands(api):
    await api.command("define-entity-type", name="Site", fields=SITE_FIELDS)
    reply = await api.http.post(
        "/v1/commands/create-import",
        headers={"Authorization": f"Bearer {api.token}"},
        data={"entity_type": "Site", "mapping": '{"Name": "title"}'},
        files={"file": ("sites.csv", b"Name,code\nHaifa,H1\n", "text/csv")},
    )
    assert reply.status_code == 200, reply.text
    exercised.add("create-import")
    job_id = reply.json()["id"]
    rows = api.runtime.commands.import_rows(Principal.system("bsdflow-imports"))
    ImportRunner(api.runtime.urls.database_url, rows, api.runtime.blobs.path_of).check(
        load(api, job_id)
    )
    await run(api, "start-import", import_id=job_id)
    await run(api, "cancel-import", import_id=job_id)
    job: ImportJob = load(api, job_id)
    assert (job.status, job.mapping, job.rows) == (
        "cancelled",
        {"Name": "title", "code": "code"},
        1,
    )


async def test_automation_commands(api, automation, http_server):
    kind = await run(
        api, "define-occurrence-kind", name="incident",
        fields=[{"name": "severity", "type": "integer", "required": True}],
    )  # fmt: skip
    await run(
        api, "revise-occurrence-kind", occurrence_kind_id=kind.id,
        fields=[{"name": "severity", "type": "integer"}, {"name": "summary", "type": "text"}],
    )  # fmt: skip
    action = await run(
        api, "create-action", name="Page on-call", channel="webhook",
        template={"body": "severity {{ occurrence.data.severity }}"},
        config={"url": f"{http_server.url}/ok"}, credentials={"secret": SECRET},
    )  # fmt: skip
    await run(api, "revise-action", action_id=action.id, retry={"max_attempts": 2})
    attached = await run(
        api, "attach-process-action", name="Severe", action_id=action.id,
        trigger={"on": "occurrence_recorded", "kind": "incident"},
        condition={">=": [{"var": "data.severity"}, 3]},
    )  # fmt: skip
    await run(
        api, "revise-process-action", process_action_id=attached.id,
        condition={">=": [{"var": "data.severity"}, 4]},
        schedule={"type": "relative", "to": "trigger", "offset": "PT1H"},
    )  # fmt: skip
    await run(api, "pause-process-action", process_action_id=attached.id)
    await run(api, "resume-process-action", process_action_id=attached.id)
    robot = api.mint("acme", "automation", actor="reactor")
    planned = await api.command(
        "plan-action-run", token=robot, process_action_id=attached.id, trigger_key="manual:1",
        planned_at="2030-01-01T09:00:00+00:00",
    )  # fmt: skip
    exercised.add("plan-action-run")
    await run(api, "cancel-action-run", run_id=planned.id, reason="not needed after all")
    await run(api, "retire-action", action_id=action.id)

    item: ActionCatalogItem = load(api, action.id)
    process_action: ProcessAction = load(api, attached.id)
    action_run: ActionRun = load(api, planned.id)
    assert (item.retired, item.retry["max_attempts"], item.credentials != SECRET) == (True, 2, True)
    assert process_action.schedule["offset"] == "PT1H"
    assert not process_action.paused
    assert (action_run.status, action_run.last_error) == ("cancelled", "not needed after all")
    kind_now: OccurrenceKind = load(api, kind.id)
    assert [f.name for f in kind_now.fields] == ["severity", "summary"]


async def test_access_commands(api):
    defined = await run(api, "define-role", name="clerk", description="Desk", grants=["data:write"])
    await run(api, "change-role", name="clerk", grants=["data:write", "read:*"], expected_version=1)
    await run(api, "change-role", name="viewer", description="Reads entities only",
              grants=["read:entities"])  # fmt: skip
    role: Role = load(api, defined.id)
    assert (role.description, role.grants) == ("Desk", ["data:write", "read:*"])
    bound = await run(api, "set-member-roles", actor="ada", roles=["clerk"])
    await run(api, "set-member-roles", actor="ada", roles=["clerk", "viewer"])
    member: Member = load(api, bound.id)
    assert member.roles == ["clerk", "viewer"]
    await run(api, "remove-member", actor="ada")
    assert load(api, bound.id).roles == []
    await run(api, "remove-role", name="clerk")
    assert load(api, defined.id).removed

    created = await run(api, "create-api-key", name="nightly", roles=["viewer"], ttl_seconds=60)
    assert created.body["key"].startswith("bsk_")
    key: ApiKey = load(api, created.id)
    assert (key.name, key.roles, key.revoked) == ("nightly", ["viewer"], False)
    await run(api, "revoke-api-key", name="nightly")
    assert load(api, created.id).revoked


def test_every_registered_command_is_exercised():
    """Runs last in this module: a new command without a happy-path test fails here."""
    assert set(COMMANDS) - exercised == set()

"""The automation read side: commands and saved aggregates in, `/graphql` answers out.

Catalog actions and process actions are saved straight through the event store (with
metadata, as the command side saves them) so this file does not depend on the
validation worker; occurrence kinds and occurrences go through the command API. Every read
waits for its position (`settled`, `X-Min-Position`), never a sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from eventsourcing.domain import Aggregate
from gql import Client, gql
from gql.transport.websockets import WebsocketsTransport

from domain.action_catalog import ActionCatalogItem, RetryPolicy
from domain.action_run import ActionRun
from domain.fields import FieldSpec
from domain.ids import tenant_id_for
from domain.process_action import ProcessAction
from domain.triggers import parse_trigger
from infra.api import create_app
from infra.graphql import graphql_services
from projections.registry import PROJECTIONS
from tests.integration.test_read_models import assert_replays_change_nothing
from tests.servers import uvicorn_serving

ACME = tenant_id_for("acme")
CIPHERTEXT = "sealed:v1:c2VjcmV0LXRva2Vu"
T0 = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)
LEAK_FIELDS = [
    {"name": "severity", "type": "integer", "required": True},
    {"name": "site", "type": "text"},
]
RUN_FIELDS = """id status plannedAt dueAt attempts lastError providerMessageId context
    finishedAt processActionId actionId triggerKey position"""


class GraphQL:
    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.http = http
        self.token = token

    async def query(
        self, query: str, variables: dict[str, Any] | None = None, *, at: int = 0,
        token: str | None = None,
    ) -> Any:  # fmt: skip
        """The whole body; `at` waits for that position (and bypasses the response cache)."""
        headers = {"Authorization": f"Bearer {token or self.token}", "X-Min-Position": str(at)}
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def data(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> Any:
        body = await self.query(query, variables, **kw)
        assert "errors" not in body, body["errors"]
        assert body["extensions"]["freshness"]["timedOut"] is False
        return body["data"]


@pytest.fixture
async def graphql(runtime: Any, api: Any) -> AsyncIterator[GraphQL]:
    app = create_app(runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bsdflow.test") as http:
        yield GraphQL(http, api.token)
    await graphql_services(app).close()


def save(api: Any, *aggregates: Aggregate, tenant: UUID = ACME) -> int:
    """Store aggregates as a command would (tenant in the metadata); returns the position."""
    meta = {"tenant_id": str(tenant), "actor": "tester", "correlation_id": "test"}
    return api.runtime.store.save(*aggregates, metadata=meta)


def email_action(name: str, credentials: str | None = None, tenant: UUID = ACME) -> Any:
    return ActionCatalogItem.create(
        tenant, name, "email", {"subject": "Leak at {{ occurrence.data.site }}", "body": "Go"},
        {"to": "ops@example.com"}, credentials, {"max_attempts": 3, "backoff_seconds": 10},
    )  # fmt: skip


def leak_action(action_id: UUID, name: str, condition: Any = None, tenant: UUID = ACME) -> Any:
    trigger = parse_trigger({"on": "occurrence_recorded", "kind": "leak"})
    variables = trigger.variables([FieldSpec.from_dict(f) for f in LEAK_FIELDS])
    return ProcessAction.attach(
        tenant, name, action_id, trigger, condition, {"type": "immediate"}, None, variables
    )


def plan(action: Any, pa: Any, key: str, at: datetime, tenant: UUID = ACME, **retry: Any) -> Any:
    context = {"occurrence": {"kind": "leak", "key": key}}
    return ActionRun.plan(tenant, pa.id, action.id, key, at, context, RetryPolicy(**retry))


async def other_tenant(api: Any, slug: str = "beta") -> str:
    await api.command("create-tenant", token=api.mint("platform", "platform"), slug=slug, name=slug)
    return str(api.mint(slug, "admin"))


CATALOG = """query($action: UUID!, $pa: UUID!, $kind: UUID!) {
    occurrenceKinds { id name description fields version }
    occurrenceKind(id: $kind) { name }
    actions { id name channel template config hasCredentials retry retired }
    everything: actions(includeRetired: true) { name retired }
    action(id: $action) { name hasCredentials }
    processActions { name triggerOn paused }
    processAction(id: $pa) { id name actionId trigger triggerOn condition schedule catchUp
        paused action { name hasCredentials } }
}"""


async def test_catalog_kinds_and_process_actions(api, graphql, settled, database_url):
    kind = await api.command("define-occurrence-kind", name="leak", description="Water",
                             fields=LEAK_FIELDS)  # fmt: skip
    revised = [*LEAK_FIELDS, {"name": "litres", "type": "number"}]
    await api.command("revise-occurrence-kind", occurrence_kind_id=kind.id, fields=revised)
    mail, sms = email_action("Mail ops", CIPHERTEXT), email_action("Old pager")
    save(api, mail, sms)
    sms.retire()
    urgent = leak_action(mail.id, "Urgent leaks", {">=": [{"var": "data.severity"}, 4]})
    every = leak_action(mail.id, "Every leak")
    save(api, sms, urgent, every)
    every.pause()
    last = save(api, every)
    await settled(last)

    ids = {"action": str(mail.id), "pa": str(urgent.id), "kind": kind.id}
    data = await graphql.data(CATALOG, ids, at=last)
    assert [(k["name"], k["description"], k["version"]) for k in data["occurrenceKinds"]] == [
        ("leak", "Water", 2)
    ]
    assert [f["name"] for f in data["occurrenceKinds"][0]["fields"]] == [
        "severity", "site", "litres",
    ]  # fmt: skip
    assert data["occurrenceKind"] == {"name": "leak"}
    assert data["actions"] == [
        {
            "id": str(mail.id), "name": "Mail ops", "channel": "email",
            "template": {"subject": "Leak at {{ occurrence.data.site }}", "body": "Go"},
            "config": {"to": "ops@example.com"}, "hasCredentials": True,
            "retry": {"max_attempts": 3, "backoff_seconds": 10, "max_backoff_seconds": 3600.0},
            "retired": False,
        }
    ]  # fmt: skip
    assert data["everything"] == [
        {"name": "Mail ops", "retired": False}, {"name": "Old pager", "retired": True},
    ]  # fmt: skip
    assert data["action"] == {"name": "Mail ops", "hasCredentials": True}
    assert data["processActions"] == [
        {"name": "Every leak", "triggerOn": "occurrence_recorded", "paused": True},
        {"name": "Urgent leaks", "triggerOn": "occurrence_recorded", "paused": False},
    ]
    assert data["processAction"] == {
        "id": str(urgent.id), "name": "Urgent leaks", "actionId": str(mail.id),
        "trigger": {"on": "occurrence_recorded", "kind": "leak"},
        "triggerOn": "occurrence_recorded",
        "condition": {">=": [{"var": "data.severity"}, 4]},
        "schedule": {"type": "immediate"}, "catchUp": urgent.catch_up, "paused": False,
        "action": {"name": "Mail ops", "hasCredentials": True},
    }  # fmt: skip

    filtered = await graphql.data(
        """query($a: UUID!) {
            active: processActions(filter: {includePaused: false}) { name }
            byAction: processActions(filter: {actionId: $a}) { name }
            byTrigger: processActions(filter: {triggerOn: "schedule"}) { name } }""",
        {"a": str(mail.id)}, at=last,
    )  # fmt: skip
    assert filtered == {
        "active": [{"name": "Urgent leaks"}],
        "byAction": [{"name": "Every leak"}, {"name": "Urgent leaks"}],
        "byTrigger": [],
    }

    # Credentials are not in the schema, and their ciphertext is nowhere in the read model.
    refused = await graphql.query("query($a: UUID!) { action(id: $a) { credentials } }",
                                  {"a": str(mail.id)}, at=last)  # fmt: skip
    assert "credentials" in refused["errors"][0]["message"]
    with psycopg.connect(database_url) as conn:
        for table in PROJECTIONS["automation"].tables:
            dump = conn.execute(f"SELECT coalesce(string_agg(t::text, ''), '') FROM "
                                f"rm_automation.{table} t").fetchone()  # fmt: skip
            assert CIPHERTEXT not in dump[0], table

    beta = await other_tenant(api)
    hidden = await graphql.data(CATALOG, ids, at=last, token=beta)
    assert hidden == {
        "occurrenceKinds": [], "occurrenceKind": None, "actions": [], "everything": [],
        "action": None, "processActions": [], "processAction": None,
    }  # fmt: skip
    assert_replays_change_nothing(database_url, PROJECTIONS["automation"])


RUN = f"""query($id: UUID!) {{ actionRun(id: $id) {{ {RUN_FIELDS}
    attemptHistory {{ attempt startedAt finishedAt outcome error detail providerMessageId
        nextAttemptAt }}
    processAction {{ name }} action {{ name }} }} }}"""
RUNS = """query($filter: ActionRunFilter, $first: Int = 50, $after: String) {
    actionRuns(filter: $filter, first: $first, after: $after) {
        edges { cursor node { id status } } pageInfo { hasNextPage endCursor } } }"""


async def test_runs_keep_their_status_and_attempt_history(api, graphql, settled, database_url):
    mail, pager = email_action("Mail ops", CIPHERTEXT), email_action("Pager")
    urgent, every = leak_action(mail.id, "Urgent"), leak_action(pager.id, "Every")
    save(api, mail, pager, urgent, every)
    delivered = plan(mail, urgent, "occ-1", T0, backoff_seconds=10)
    cancelled = plan(mail, urgent, "occ-2", T0 + timedelta(hours=1))
    dead = plan(pager, every, "occ-3", T0 + timedelta(hours=2), max_attempts=1)
    sending = plan(pager, every, "occ-4", T0 + timedelta(hours=3))
    save(api, delivered, cancelled, dead, sending)

    delivered.start(T0, fence=1)
    save(api, delivered)
    delivered.fail(T0 + timedelta(seconds=2), "SMTP 451 try later", retryable=True, jitter=0.0)
    retrying_at = save(api, delivered)
    await settled(retrying_at)
    retrying = (await graphql.data(RUN, {"id": str(delivered.id)}, at=retrying_at))["actionRun"]
    assert (retrying["status"], retrying["attempts"], retrying["lastError"]) == (
        "RETRYING", 1, "SMTP 451 try later",
    )  # fmt: skip
    assert retrying["dueAt"] == (T0 + timedelta(seconds=7)).isoformat()  # +2 s, then 10 s * 0.5
    assert retrying["finishedAt"] is None

    delivered.start(T0 + timedelta(seconds=8), fence=1)
    save(api, delivered)
    delivered.deliver(T0 + timedelta(seconds=9), "msg-42", "250 OK")
    cancelled.cancel("no longer needed")
    dead.start(T0, fence=2)
    sending.start(T0, fence=2)
    save(api, delivered, cancelled, dead, sending)
    dead.fail(T0 + timedelta(seconds=1), "bad address", retryable=False, jitter=0.5)
    last = save(api, dead)
    await settled(last)

    run = (await graphql.data(RUN, {"id": str(delivered.id)}, at=last))["actionRun"]
    assert {k: run[k] for k in ("status", "attempts", "providerMessageId", "lastError")} == {
        "status": "DELIVERED", "attempts": 2, "providerMessageId": "msg-42",
        "lastError": "SMTP 451 try later",
    }  # fmt: skip
    assert (run["plannedAt"], run["triggerKey"]) == (T0.isoformat(), "occ-1")
    assert run["finishedAt"] == (T0 + timedelta(seconds=9)).isoformat()
    assert run["context"] == {"occurrence": {"kind": "leak", "key": "occ-1"}}
    assert (run["processAction"], run["action"]) == ({"name": "Urgent"}, {"name": "Mail ops"})
    assert run["attemptHistory"] == [
        {"attempt": 1, "startedAt": T0.isoformat(),
         "finishedAt": (T0 + timedelta(seconds=2)).isoformat(), "outcome": "FAILED",
         "error": "SMTP 451 try later", "detail": None, "providerMessageId": None,
         "nextAttemptAt": (T0 + timedelta(seconds=7)).isoformat()},
        {"attempt": 2, "startedAt": (T0 + timedelta(seconds=8)).isoformat(),
         "finishedAt": (T0 + timedelta(seconds=9)).isoformat(), "outcome": "DELIVERED",
         "error": None, "detail": "250 OK", "providerMessageId": "msg-42",
         "nextAttemptAt": None},
    ]  # fmt: skip
    gone = (await graphql.data(RUN, {"id": str(dead.id)}, at=last))["actionRun"]
    assert (gone["status"], gone["lastError"], gone["finishedAt"] is not None) == (
        "DEAD", "bad address", True,
    )  # fmt: skip
    assert [a["outcome"] for a in gone["attemptHistory"]] == ["FAILED"]
    stopped = (await graphql.data(RUN, {"id": str(cancelled.id)}, at=last))["actionRun"]
    assert (stopped["status"], stopped["lastError"], stopped["attemptHistory"]) == (
        "CANCELLED", "no longer needed", [],
    )  # fmt: skip

    async def listed(where: dict[str, Any] | None) -> list[tuple[str, str]]:
        found = await graphql.data(RUNS, {"filter": where}, at=last)
        return [(e["node"]["id"], e["node"]["status"]) for e in found["actionRuns"]["edges"]]

    runs = {r.id: str(r.id) for r in (delivered, cancelled, dead, sending)}
    newest_first = [runs[r.id] for r in (sending, dead, cancelled, delivered)]
    assert [i for i, _ in await listed(None)] == newest_first
    assert await listed({"status": ["DELIVERED", "SENDING"]}) == [
        (runs[sending.id], "SENDING"), (runs[delivered.id], "DELIVERED"),
    ]  # fmt: skip
    assert [i for i, _ in await listed({"processActionId": str(urgent.id)})] == [
        runs[cancelled.id], runs[delivered.id],
    ]  # fmt: skip
    assert [i for i, _ in await listed({"actionId": str(pager.id)})] == [
        runs[sending.id], runs[dead.id],
    ]  # fmt: skip
    window = {"plannedAfter": (T0 + timedelta(hours=1)).isoformat(),
              "plannedBefore": (T0 + timedelta(hours=3)).isoformat()}  # fmt: skip
    assert [i for i, _ in await listed(window)] == [runs[dead.id], runs[cancelled.id]]

    pages, after = [], None
    while True:
        page = (await graphql.data(RUNS, {"first": 3, "after": after}, at=last))["actionRuns"]
        pages.append([e["node"]["id"] for e in page["edges"]])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == [newest_first[:3], newest_first[3:]]

    beta = await other_tenant(api)
    assert (await graphql.data(RUNS, at=last, token=beta))["actionRuns"]["edges"] == []
    assert (await graphql.data(RUN, {"id": str(delivered.id)}, at=last, token=beta)) == {
        "actionRun": None
    }
    assert_replays_change_nothing(database_url, PROJECTIONS["automation"])


@pytest.fixture
def served(runtime: Any, read_side: Any) -> Iterator[tuple[str, Any]]:
    """The app under uvicorn in a thread of its own, as a websocket client needs it."""
    app = create_app(runtime)
    with uvicorn_serving(app) as port:
        yield f"ws://127.0.0.1:{port}/graphql", graphql_services(app)


RUN_CHANGED = """subscription($pa: UUID) { actionRunChanged(processActionId: $pa) {
    position event run { id status attempts providerMessageId processAction { name } } } }"""


def socket(url: str, token: str) -> WebsocketsTransport:
    return WebsocketsTransport(
        url=url,
        init_payload={"Authorization": f"Bearer {token}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )


async def until_subscribers(services: Any, count: int, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while services.fanout.subscriber_count != count:
        assert asyncio.get_running_loop().time() < deadline, "subscribers not reached"
        await asyncio.sleep(0.01)


async def test_action_run_changes_are_pushed_per_process_action(served, api):
    url, services = served
    beta = await other_tenant(api)
    beta_id = tenant_id_for("beta")
    mail = email_action("Mail ops")
    urgent, every = leak_action(mail.id, "Urgent"), leak_action(mail.id, "Every")
    save(api, mail, urgent, every)
    theirs = email_action("Mail", tenant=beta_id)
    their_pa = leak_action(theirs.id, "Urgent", tenant=beta_id)
    save(api, theirs, their_pa, tenant=beta_id)

    async with (
        Client(transport=socket(url, api.token)) as session,
        Client(transport=socket(url, beta)) as spectator,
    ):
        updates = session.subscribe(gql(RUN_CHANGED), variable_values={"pa": str(urgent.id)})
        foreign = spectator.subscribe(gql(RUN_CHANGED), variable_values={"pa": None})
        first = asyncio.ensure_future(anext(updates))
        seen_by_beta = asyncio.ensure_future(anext(foreign))
        await until_subscribers(services, 2)

        save(api, plan(mail, every, "other", T0))  # another process action: filtered out
        run = plan(mail, urgent, "occ-1", T0)
        steps = [
            ("ActionRun.Planned", "PLANNED", lambda: None),
            ("ActionRun.Started", "SENDING", lambda: run.start(T0, fence=1)),
            ("ActionRun.Delivered", "DELIVERED", lambda: run.deliver(T0, "msg-1", "250 OK")),
        ]
        for event, status, act in steps:
            act()
            position = save(api, run)
            message = (await asyncio.wait_for(first, 30))["actionRunChanged"]
            assert (message["position"], message["event"]) == (position, event)
            assert message["run"]["id"] == str(run.id)
            assert message["run"]["status"] == status
            assert message["run"]["processAction"] == {"name": "Urgent"}
            first = asyncio.ensure_future(anext(updates))
        assert message["run"]["providerMessageId"] == "msg-1"

        # Changes arrive in order: had acme's runs reached beta, they would have come first.
        their_run = plan(theirs, their_pa, "occ-9", T0, tenant=beta_id)
        their_position = save(api, their_run, tenant=beta_id)
        message = (await asyncio.wait_for(seen_by_beta, 30))["actionRunChanged"]
        assert (message["position"], message["run"]["id"]) == (their_position, str(their_run.id))
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first
        await updates.aclose()  # a client that leaves without it waits out gql's close timeout
        await foreign.aclose()
    await until_subscribers(services, 0)


DRY_RUN = """query($trigger: JSON!, $condition: JSON!, $sample: JSON, $previous: JSON,
        $last: Int, $now: DateTime) {
    ruleDryRun(trigger: $trigger, condition: $condition, sample: $sample, previous: $previous,
               last: $last, now: $now, timezone: "Europe/Paris") {
        valid errors { path message } variables results { subjectId result trace record } } }"""
LEAK = {"on": "occurrence_recorded", "kind": "leak"}
SEVERE = {">=": [{"var": "data.severity"}, 4]}


async def test_rule_dry_run(api, graphql, settled):
    await api.command("define-occurrence-kind", name="leak", fields=LEAK_FIELDS)
    recorded = []
    for day, severity in ((1, 5), (2, 2), (3, 4)):
        recorded.append(await api.command(
            "record-occurrence", kind="leak", occurred_at=f"2030-01-0{day}T08:00:00Z",
            data={"severity": severity, "site": f"S{day}"}, location={"lat": 48.8, "lon": 2.3},
        ))  # fmt: skip
    site = await api.command("define-entity-type", name="Site", fields=[
        {"name": "title", "type": "text"}, {"name": "status", "type": "text"}])  # fmt: skip
    last = (await api.command("create-entity", entity_type_id=site.id,
                              data={"title": "Depot", "status": "open"})).position  # fmt: skip
    await settled(last)

    async def dry_run(**variables: Any) -> Any:
        return (await graphql.data(DRY_RUN, variables, at=last))["ruleDryRun"]

    sample = {"kind": "leak", "occurred_at": "2030-01-05T08:00:00+00:00", "location": None,
              "process_id": None, "data": {"severity": 5, "site": "Quay"}}  # fmt: skip
    checked = await dry_run(trigger=LEAK, condition=SEVERE, sample=sample)
    assert (checked["valid"], checked["errors"]) == (True, [])
    assert checked["variables"]["data.severity"] == "number"
    assert checked["variables"]["occurred_at"] == "datetime"
    [verdict] = checked["results"]
    assert (verdict["subjectId"], verdict["result"], verdict["record"]) == (None, True, sample)
    assert verdict["trace"]["op"] == ">="
    assert verdict["trace"]["value"] is True

    latest = await dry_run(trigger=LEAK, condition=SEVERE, last=2)
    assert [(r["subjectId"], r["result"]) for r in latest["results"]] == [
        (recorded[2].id, True), (recorded[1].id, False),
    ]  # fmt: skip
    assert latest["results"][0]["record"]["data"] == {"severity": 4, "site": "S3"}
    assert latest["results"][0]["record"]["location"] == {"lat": 48.8, "lon": 2.3}

    recent = {"within_last_days": [{"var": "occurred_at"}, 2]}
    clocked = await dry_run(trigger=LEAK, condition=recent, last=3,
                            now="2030-01-03T12:00:00+00:00")  # fmt: skip
    assert [r["result"] for r in clocked["results"]] == [True, True, True]
    clocked = await dry_run(trigger=LEAK, condition=recent, last=3,
                            now="2030-01-04T12:00:00+00:00")  # fmt: skip
    assert [r["result"] for r in clocked["results"]] == [True, True, False]

    for trigger, condition, path in [
        (LEAK, {">=": [{"var": "data.sevrity"}, 4]}, ["condition", ">=", 0, "var"]),
        (LEAK, {"and": [SEVERE, {"frobnicate": [1]}]}, ["condition", "and", 1, "frobnicate"]),
        (LEAK, {"changed": ["data.severity"]}, ["condition", "changed"]),
        ({"on": "occurrence_recorded", "kind": "flood"}, SEVERE, ["trigger", "kind"]),
        ({"on": "whenever"}, SEVERE, ["trigger", "on"]),
    ]:
        refused = await dry_run(trigger=trigger, condition=condition, sample=sample)
        assert refused["valid"] is False, condition
        assert refused["results"] == []
        assert [e["path"] for e in refused["errors"]] == [path], refused["errors"]
        assert refused["errors"][0]["message"]

    changed = {"on": "entity_changed", "entity_type_id": site.id}
    closing = {"changed_to": ["data.status", "closed"]}
    entity = {"entity_type": "Site", "location": None, "data": {"title": "D", "status": "closed"}}
    before = {**entity, "data": {"title": "D", "status": "open"}}
    moved = await dry_run(trigger=changed, condition=closing, sample=entity, previous=before,
                          last=5)  # fmt: skip
    assert moved["valid"] is True, moved["errors"]
    assert [r["result"] for r in moved["results"]] == [True, False]
    assert moved["results"][1]["record"] == {
        "entity_type": "Site", "location": None, "data": {"title": "Depot", "status": "open"},
    }  # fmt: skip


async def test_rule_dry_run_on_stages_entered(api, graphql, settled):
    opened = await api.command("open-process", kind="inspection", title="Pump",
                               stages=["new", "review"], data={"site": "North"})  # fmt: skip
    await api.command("open-process", kind="audit", title="Books", stages=["new", "review"])
    last = (await api.command("enter-stage", process_id=opened.id, stage="review")).position
    await settled(last)
    trigger = {"on": "stage_entered", "process_kind": "inspection", "stage": "review"}
    condition = {"==": [{"var": "previous_stage"}, "new"]}
    body = await graphql.data(DRY_RUN, {"trigger": trigger, "condition": condition, "last": 10},
                              at=last)  # fmt: skip
    [verdict] = body["ruleDryRun"]["results"]
    assert (verdict["subjectId"], verdict["result"]) == (opened.id, True)
    assert verdict["record"]["data"] == {"site": "North"}
    assert verdict["record"]["stage"] == "review"

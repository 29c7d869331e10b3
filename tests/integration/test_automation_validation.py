"""Saving automation goes through the validation worker (Kafka request-reply) first.

Faults come back as 422 problem+json with JSON paths, a missing worker is a 504, and either way
nothing is stored.
"""

from __future__ import annotations

import asyncio
from typing import Any

from infra.automation import AutomationSide
from tests.conftest import Api
from tests.servers import SECRET

WEBHOOK = {"channel": "webhook", "template": {"body": "{{ occurrence.data.severity }}"},
           "config": {"url": "https://hooks.example.org/in"}, "credentials": {"secret": SECRET}}  # fmt: skip


def faults(reply: Any) -> list[tuple[list[Any], str]]:
    return [(e["path"], e["message"]) for e in reply.body.get("errors", [])]


async def test_twenty_clients_racing_for_one_catalog_name_get_one_success(
    api: Api, automation: AutomationSide
) -> None:
    before = api.event_count()
    replies = await asyncio.gather(
        *(api.post("create-action", {"name": "Page on-call", **WEBHOOK}) for _ in range(20))
    )
    statuses = sorted(r.status for r in replies)
    assert statuses == [200] + [422] * 19, statuses
    for refused in (r for r in replies if r.status == 422):
        assert refused.headers["content-type"] == "application/problem+json"
        [(path, message)] = faults(refused)
        assert path == ["name"]
        assert "Page on-call" in message
    assert api.event_count() == before + 2  # the action and its name claim

    later = await api.post("create-action", {"name": "  page ON-CALL ", **WEBHOOK})
    assert later.status == 422
    assert faults(later)[0] == (["name"], "an action named '  page ON-CALL ' already exists")


async def test_channel_config_and_template_faults_are_reported_with_paths(
    api: Api, automation: AutomationSide
) -> None:
    before = api.event_count()
    reply = await api.post(
        "create-action",
        {"name": "Broken", "channel": "webhook",
         "template": {"body": "{{ occurrence.data.severity }"},
         "config": {"url": "ftp://files.example.org"}},
    )  # fmt: skip
    assert reply.status == 422
    paths = [path for path, _ in faults(reply)]
    assert ["template", "body"] in paths
    assert ["config", "url"] in paths
    assert ["credentials", "secret"] in paths
    unknown = await api.post("create-action", {**WEBHOOK, "name": "Fax", "channel": "fax"})
    assert faults(unknown) == [(["channel"], "unknown channel 'fax'; one of email, sms, webhook")]
    assert api.event_count() == before


async def test_rules_and_templates_are_checked_against_the_trigger_fields(
    api: Api, automation: AutomationSide
) -> None:
    await api.command(
        "define-occurrence-kind", name="incident",
        fields=[{"name": "severity", "type": "integer"}, {"name": "summary", "type": "text"}],
    )  # fmt: skip
    action = await api.command("create-action", name="Page", **WEBHOOK)
    before = api.event_count()

    async def attach(**body: Any) -> Any:
        return await api.post(
            "attach-process-action",
            {"name": "Severe", "action_id": action.id,
             "trigger": {"on": "occurrence_recorded", "kind": "incident"}, **body},
        )  # fmt: skip

    unknown_field = await attach(condition={"and": [{">=": [{"var": "data.sevrity"}, 3]}]})
    [(path, message)] = faults(unknown_field)
    assert path == ["condition", "and", 0, ">=", 0, "var"]
    assert "data.severity" in message
    wrong_type = await attach(condition={">=": [{"var": "data.summary"}, 3]})
    assert faults(wrong_type)[0][0][:2] == ["condition", ">="]
    unknown_op = await attach(condition={"severity_at_least": [3]})
    assert faults(unknown_op)[0][0] == ["condition", "severity_at_least"]
    changes_on_create = await attach(condition={"changed": ["data.severity"]})
    assert faults(changes_on_create)[0][0] == ["condition", "changed"]
    no_such_kind = await api.post(
        "attach-process-action",
        {"name": "x", "action_id": action.id, "trigger": {"on": "occurrence_recorded", "kind": "visit"}},
    )  # fmt: skip
    assert faults(no_such_kind)[0][0] == ["trigger", "kind"]

    template_misfit = await api.command(
        "create-action", name="Visit note", channel="webhook",
        template={"body": "{{ occurrence.data.visitor }}"},
        config={"url": "https://hooks.example.org/in"}, credentials={"secret": SECRET},
    )  # fmt: skip
    misfit = await api.post(
        "attach-process-action",
        {"name": "Visits", "action_id": template_misfit.id,
         "trigger": {"on": "occurrence_recorded", "kind": "incident"}},
    )  # fmt: skip
    [(path, message)] = faults(misfit)
    assert path == ["action_id"]
    assert "occurrence.data.visitor" in message
    for reply in (unknown_field, wrong_type, unknown_op, changes_on_create, no_such_kind, misfit):
        assert reply.status == 422
    assert api.event_count() == before + 2  # only the second catalog action and its claim


async def test_no_validation_worker_is_a_504_and_stores_nothing(api: Api) -> None:
    api.runtime.prevalidation.timeout = 0.5
    before = api.event_count()
    reply = await api.post("create-action", {"name": "Page on-call", **WEBHOOK})
    assert reply.status == 504
    assert reply.body["title"] == "Validation timed out"
    assert api.event_count() == before


def nested_condition(levels: int) -> dict[str, Any]:
    condition: dict[str, Any] = {">=": [{"var": "data.severity"}, 3]}
    for _ in range(levels):
        condition = {"and": [condition]}
    return condition


async def test_a_deeply_nested_condition_is_refused_with_the_depth_limit(
    api: Api, automation: AutomationSide
) -> None:
    await api.command(
        "define-occurrence-kind", name="incident", fields=[{"name": "severity", "type": "integer"}]
    )
    action = await api.command("create-action", name="Page", **WEBHOOK)
    before = api.event_count()

    async def attach(levels: int) -> Any:
        return await api.post(
            "attach-process-action",
            {"name": f"Deep {levels}", "action_id": action.id, "condition": nested_condition(levels),
             "trigger": {"on": "occurrence_recorded", "kind": "incident"}},
        )  # fmt: skip

    too_deep = await attach(126)  # 253 levels of JSON
    assert too_deep.status == 422, too_deep.body
    assert too_deep.headers["content-type"] == "application/problem+json"
    assert "nested deeper than 64 levels" in faults(too_deep)[0][1]
    assert api.event_count() == before
    within = await attach(30)
    assert within.status == 200, within.body


async def test_another_tenants_ids_are_404_like_unknown_ones(
    api: Api, automation: AutomationSide
) -> None:
    """Validated commands answer exactly as the others: a tenant never learns whether an id
    exists elsewhere."""
    await api.command(
        "define-occurrence-kind", name="incident", fields=[{"name": "severity", "type": "integer"}]
    )
    action = await api.command("create-action", name="Page", **WEBHOOK)
    attached = await api.command(
        "attach-process-action", name="Always", action_id=action.id,
        trigger={"on": "occurrence_recorded", "kind": "incident"},
    )  # fmt: skip
    platform = api.mint("platform", "platform")
    await api.command("create-tenant", token=platform, slug="globex", name="Globex")
    intruder = api.mint("globex", "admin")
    await api.command(
        "define-occurrence-kind", token=intruder, name="incident",
        fields=[{"name": "severity", "type": "integer"}],
    )  # fmt: skip
    unknown = "00000000-0000-4000-8000-000000000000"
    before = api.event_count()

    for action_id in (action.id, unknown):
        for command, body in (
            ("revise-action", {"action_id": action_id, "template": {"body": "hi"}}),
            ("retire-action", {"action_id": action_id}),
            ("attach-process-action", {"name": "Steal", "action_id": action_id,
                                       "trigger": {"on": "occurrence_recorded", "kind": "incident"}}),
        ):  # fmt: skip
            reply = await api.post(command, body, token=intruder)
            assert reply.status == 404, (command, reply.body)
            assert reply.headers["content-type"] == "application/problem+json"
            assert reply.body["detail"] == "no action with this id", (command, reply.body)
            assert faults(reply) == [(["action_id"], "no action with this id")]
    for process_action_id in (attached.id, unknown):
        for command in ("revise-process-action", "pause-process-action"):
            reply = await api.post(
                command, {"process_action_id": process_action_id}, token=intruder
            )
            assert reply.status == 404, (command, reply.body)
            assert reply.body["detail"] == "no process action with this id"
    assert api.event_count() == before


async def test_private_destinations_are_refused_when_an_action_is_saved(
    api: Api, automation: AutomationSide
) -> None:
    """Tests allow loopback (BSDFLOW_OUTBOUND_ALLOW=127.0.0.0/8,::1/128), not private networks."""
    before = api.event_count()
    sms = {"channel": "sms", "template": {"body": "hi"}, "credentials": {"api_key": "k"}}
    cases = [
        ({**WEBHOOK, "config": {"url": "http://10.0.0.1/hook"}}, ["config", "url"], "10.0.0.1"),
        ({**WEBHOOK, "config": {"url": "https://[2002:a00:1::]/in"}}, ["config", "url"], "10.0.0.1"),
        ({**sms, "config": {"provider_url": "http://192.168.1.1/sms", "from": "bsdflow"}},
         ["config", "provider_url"], "192.168.1.1"),
    ]  # fmt: skip
    for n, (body, path, address) in enumerate(cases):
        reply = await api.post("create-action", {"name": f"Inside {n}", **body})
        assert reply.status == 422, reply.body
        [(where, message)] = faults(reply)
        assert where == path
        assert address in message
        assert "BSDFLOW_OUTBOUND_ALLOW" in message
    assert api.event_count() == before

    action = await api.command("create-action", name="Local", **WEBHOOK)
    moved = await api.post(
        "revise-action", {"action_id": action.id, "config": {"url": "http://10.0.0.1/hook"}}
    )
    assert moved.status == 422, moved.body
    assert faults(moved)[0][0] == ["config", "url"]
    allowed = await api.post(
        "revise-action", {"action_id": action.id, "config": {"url": "http://localhost:9/hook"}}
    )
    assert allowed.status == 200, allowed.body


async def test_an_obviously_oversized_template_is_refused_when_saved(
    api: Api, automation: AutomationSide
) -> None:
    before = api.event_count()
    for body in ("{{ 'x' * 50000000 }}", "{{ 'ab'|center(10000000) }}"):
        reply = await api.post(
            "create-action", {**WEBHOOK, "name": "Huge", "template": {"body": body}}
        )
        assert reply.status == 422, reply.body
        [(path, message)] = faults(reply)
        assert path == ["template", "body"]
        assert "template too large" in message
        assert "exceed 100000 characters" in message
    assert api.event_count() == before

"""Multi-step automation: a follow-up SMS an hour after a case enters `fixing` if it is still
there (cancelled, saying why, when it moved on), and a fallback when a run ends dead, each
planned once."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from infra.automation import AutomationSide
from tests.conftest import Api, FakeClock
from tests.runs import run_settles, until
from tests.servers import SECRET, Recorder
from tests.unit.commands.test_process_definitions import incident

STILL_FIXING = {"==": [{"var": "stage"}, "fixing"]}


async def follow_up_setup(api: Api, url: str) -> str:
    """On entering `fixing`: a webhook now, and an SMS to the case's owner an hour later if the
    case is still in `fixing` (the incident definition published already)."""
    now = await api.command(
        "create-action", name="Fixing", channel="webhook", template={"body": "{}"},
        config={"url": f"{url}/ok"}, credentials={"secret": SECRET},
    )  # fmt: skip
    sms = await api.command(
        "create-action", name="Still fixing", channel="sms",
        template={"body": "{{ process.title }} is still being fixed, {{ recipient.name }}"},
        config={"provider_url": f"{url}/sms", "from": "bsdflow"},
        credentials={"api_key": "k"},
    )  # fmt: skip
    attached = await api.command(
        "attach-process-action", name="Fixing for an hour", action_id=now.id,
        trigger={"on": "stage_entered", "process_kind": "incident", "stage": "fixing"},
        steps=[{"name": "nudge", "after": "PT1H", "if": STILL_FIXING, "action_id": sms.id,
                "recipients": [{"process_role": "owner"}]}],
    )  # fmt: skip
    return str(attached.id)


async def fixing(api: Api, title: str) -> str:
    case = (await api.command("open-process", definition="incident", title=title,
                              data={"severity": 4})).id  # fmt: skip
    owner = await api.command("register-participant", name=f"{title} owner", phone="+31612345678")
    await api.command("assign-participant", process_id=case, participant_id=owner.id,
                      role="owner")  # fmt: skip
    for transition in ("triage", "fix"):
        await api.command("move-process", process_id=case, transition=transition)
    return str(case)


async def test_a_follow_up_goes_out_after_its_delay_only_if_its_condition_still_holds(
    api: Api, read_side: Any, automation: AutomationSide, clock: FakeClock, http_server: Recorder
) -> None:
    await api.command("publish-process-definition", **incident())
    pa = await follow_up_setup(api, http_server.url)
    stuck = await fixing(api, "Stuck")
    solved = await fixing(api, "Solved")
    await api.command("set-process-data", process_id=solved, data={"summary": "done"})
    await run_settles(api, pa, "planned", count=2)  # the two nudges wait
    await api.command("move-process", process_id=solved, transition="submit")

    clock.advance(timedelta(minutes=59))
    await until(lambda: len(http_server.on("/ok")) == 2, what="the two immediate webhooks")
    assert http_server.on("/sms") == []

    clock.advance(timedelta(minutes=2))
    await until(lambda: len(http_server.on("/sms")) == 1, what="the nudge")
    runs = await run_settles(api, pa, "cancelled")
    (cancelled,) = [r for r in runs if r["status"] == "CANCELLED"]
    assert cancelled["lastError"] == "step 'nudge': its condition no longer holds"
    (sent,) = http_server.on("/sms")
    message = json.loads(sent.body)
    assert (message["to"], message["body"]) == (
        "+31612345678",
        "Stuck is still being fixed, Stuck owner",
    )
    clock.advance(timedelta(hours=3))
    await run_settles(api, pa, "delivered", count=3)
    assert len(http_server.on("/sms")) == 1
    del stuck


async def test_a_dead_run_is_followed_by_its_fallback_once(
    api: Api, read_side: Any, automation: AutomationSide, http_server: Recorder
) -> None:
    await api.command("publish-process-definition", **incident())
    failing = await api.command(
        "create-action", name="Primary", channel="webhook", template={"body": "{}"},
        config={"url": f"{http_server.url}/503"}, credentials={"secret": SECRET},
        retry={"max_attempts": 2, "backoff_seconds": 0.1, "max_backoff_seconds": 0.2},
    )  # fmt: skip
    fallback = await api.command(
        "create-action", name="Fallback", channel="webhook",
        template={"body": '{"failed": "{{ failed.error }}"}'},
        config={"url": f"{http_server.url}/ok"}, credentials={"secret": SECRET},
    )  # fmt: skip
    pa = await api.command(
        "attach-process-action", name="Triage alert", action_id=failing.id,
        trigger={"on": "stage_entered", "process_kind": "incident", "stage": "triage"},
        steps=[{"name": "fallback", "when": "dead", "action_id": fallback.id}],
    )  # fmt: skip
    case = (await api.command("open-process", definition="incident", title="Outage")).id
    await api.command("move-process", process_id=case, transition="triage")
    await until(lambda: len(http_server.on("/ok")) == 1, what="the fallback")
    assert len(http_server.on("/503")) == 2
    assert b"answered 503" in http_server.on("/ok")[0].body
    runs = await run_settles(api, str(pa.id), "delivered")
    assert sorted(r["status"] for r in runs) == ["DEAD", "DELIVERED"]

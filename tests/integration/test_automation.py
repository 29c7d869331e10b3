"""Workflow automation end to end: commands in, a real webhook / SMTP server out.

Each test runs the relay and projections (`read_side`) plus the validation worker, reactor and
scheduler (`automation`) on the test's own database and topics. Deliveries are side effects
outside bsdflow, so tests poll what the receiving server saw (with a deadline); reads go through
GraphQL like a client's.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from infra.automation import AutomationSide
from tests.conftest import Api, FakeClock
from tests.runs import reactor_reached, run_settles, runs_of, until
from tests.servers import SECRET, Mailbox, Recorder, standard_webhook_signature


async def incident_setup(api: Api, url: str, retry: dict[str, Any] | None = None) -> dict[str, str]:
    """An entity type, an incident kind, a process of kind incident-response, and a webhook
    action attached as "when an incident of severity >= 3 is recorded, call the webhook"."""
    site_type = await api.command(
        "define-entity-type", name="Site", fields=[{"name": "title", "type": "text"}]
    )
    site = await api.command("create-entity", entity_type_id=site_type.id, data={"title": "Depot"})
    await api.command(
        "define-occurrence-kind",
        name="incident",
        fields=[
            {"name": "severity", "type": "integer", "required": True},
            {"name": "summary", "type": "text"},
        ],
    )
    process = await api.command(
        "open-process", kind="incident-response", title="Depot incidents", stages=["open", "done"]
    )
    action = await api.command(
        "create-action",
        name="Page on-call",
        channel="webhook",
        template={"body": '{"severity": {{ occurrence.data.severity }}, '
                          '"summary": "{{ occurrence.data.summary }}", "site": "{{ process.title }}"}'},
        config={"url": url},
        credentials={"secret": SECRET},
        retry=retry,
    )  # fmt: skip
    attached = await api.command(
        "attach-process-action",
        name="Severe incidents page on-call",
        action_id=action.id,
        trigger={"on": "occurrence_recorded", "kind": "incident", "process_kind": "incident-response"},
        condition={">=": [{"var": "data.severity"}, 3]},
    )  # fmt: skip
    return {"site": site.id, "process": process.id, "action": action.id, "pa": attached.id}


async def record_incident(api: Api, ids: dict[str, str], severity: int, summary: str) -> Any:
    return await api.command(
        "record-occurrence",
        kind="incident",
        occurred_at="2026-11-24T10:00:00+00:00",
        data={"severity": severity, "summary": summary},
        process_id=ids["process"],
        entity_ids=[ids["site"]],
    )


async def test_a_severe_incident_calls_the_webhook_once_signed_and_a_mild_one_does_not(
    api: Api, read_side: Any, automation: AutomationSide, http_server: Recorder
) -> None:
    ids = await incident_setup(api, f"{http_server.url}/ok")
    severe = await record_incident(api, ids, 4, "Fire in hall B")
    seen = await until(lambda: http_server.on("/ok"), what="the webhook call")

    call = seen[0]
    assert call.headers["webhook-signature"] == standard_webhook_signature(SECRET, call)
    assert json.loads(call.body) == {"severity": 4, "summary": "Fire in hall B",
                                     "site": "Depot incidents"}  # fmt: skip
    [run] = await run_settles(api, ids["pa"], "delivered")
    assert call.headers["webhook-id"] == f"run_{run['id'].replace('-', '')}"
    assert (run["attempts"], run["providerMessageId"]) == (1, "msg-1")

    mild = await record_incident(api, ids, 2, "Flickering light")
    await reactor_reached(automation, mild.position)
    assert severe.position < mild.position
    assert len(await runs_of(api, ids["pa"])) == 1
    assert len(http_server.seen) == 1


async def test_an_event_delivered_twice_still_yields_one_run(
    api: Api, read_side: Any, runtime: Any, clock: FakeClock, http_server: Recorder
) -> None:
    first = AutomationSide(runtime, clock=clock).start()
    try:
        assert first.validation is not None
        assert first.validation.ready.wait(30)
        ids = await incident_setup(api, f"{http_server.url}/ok")
        severe = await record_incident(api, ids, 5, "Flood")
        await until(lambda: http_server.on("/ok"), what="the first delivery")
        await reactor_reached(first, severe.position)
    finally:
        first.stop()
    # As if the reactor crashed after planning but before its checkpoint committed: Kafka
    # hands it every event again.
    with psycopg.connect(runtime.urls.database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM automation_reactor._checkpoint")
    again = AutomationSide(runtime, clock=clock).start()
    try:
        await reactor_reached(again, severe.position)
        assert again.reactor is not None
        assert again.reactor.planned == 0
        await run_settles(api, ids["pa"], "delivered")
        assert len(await runs_of(api, ids["pa"])) == 1
        assert len(http_server.seen) == 1
    finally:
        again.stop()


async def test_a_failing_endpoint_is_retried_with_backoff_then_dead(
    api: Api, read_side: Any, automation: AutomationSide, http_server: Recorder
) -> None:
    retry = {"max_attempts": 3, "backoff_seconds": 0.3, "max_backoff_seconds": 5}
    ids = await incident_setup(api, f"{http_server.url}/503", retry)
    await record_incident(api, ids, 3, "Smoke")

    [run] = await run_settles(api, ids["pa"], "dead")
    calls = http_server.on("/503")
    assert len(calls) == 3
    assert len({c.headers["webhook-id"] for c in calls}) == 1  # one idempotency key per run
    gaps = [b.at - a.at for a, b in itertools.pairwise(calls)]
    # Backoff base 0.3 s, doubling; jitter keeps at least half of each delay.
    assert gaps[0] >= 0.3 * 0.5
    assert gaps[1] >= 0.6 * 0.5
    assert run["attempts"] == 3
    assert "503" in run["lastError"]
    assert [a["outcome"] for a in run["attemptHistory"]] == ["FAILED", "FAILED", "FAILED"]


async def test_an_email_action_reaches_the_smtp_server_rendered(
    api: Api, read_side: Any, automation: AutomationSide, smtp_server: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp_server
    await api.command(
        "define-occurrence-kind", name="visit", fields=[{"name": "visitor", "type": "text"}]
    )
    dana = await api.command("register-participant", name="Dana Levi", email="dana@acme.test")
    action = await api.command(
        "create-action",
        name="Visit notice",
        channel="email",
        template={"subject": "Visit by {{ occurrence.data.visitor }}",
                  "body": "Hello {{ participants[0].name }}, {{ occurrence.data.visitor }} "
                          "visited at {{ occurrence.occurred_at }}."},
        config={"smtp_host": "127.0.0.1", "smtp_port": port, "from": "alerts@acme.test",
                "to": ["{{ participants | map(attribute='email') | join(',') }}"]},
    )  # fmt: skip
    attached = await api.command(
        "attach-process-action", name="Tell the host", action_id=action.id,
        trigger={"on": "occurrence_recorded", "kind": "visit"},
    )  # fmt: skip
    await api.command(
        "record-occurrence", kind="visit", occurred_at="2026-11-24T09:30:00+00:00",
        data={"visitor": "Inspector Gadget"}, participant_ids=[dana.id],
    )  # fmt: skip

    await until(lambda: mailbox.envelopes, what="the email")
    [envelope] = mailbox.envelopes
    text = envelope.content.decode()
    assert envelope.rcpt_tos == ["dana@acme.test"]
    assert "Subject: Visit by Inspector Gadget" in text
    assert "Hello Dana Levi, Inspector Gadget visited at 2026-11-24T09:30:00+00:00." in text
    await run_settles(api, attached.id, "delivered")


async def test_a_delayed_action_fires_at_its_time_on_the_injected_clock(
    api: Api, read_side: Any, automation: AutomationSide, clock: FakeClock, http_server: Recorder
) -> None:
    ids = await incident_setup(api, f"{http_server.url}/ok")
    later = await api.command(
        "attach-process-action", name="Follow up in an hour", action_id=ids["action"],
        trigger={"on": "occurrence_recorded", "kind": "incident"},
        schedule={"type": "relative", "to": "trigger", "offset": "PT1H"},
    )  # fmt: skip
    await record_incident(api, ids, 1, "Minor")  # below the first action's threshold
    await run_settles(api, later.id, "planned")
    scheduler = automation.scheduler
    assert scheduler is not None
    seen_ticks = scheduler.ticks
    await until(lambda: scheduler.ticks > seen_ticks + 5, what="scheduler ticks")
    assert scheduler.fired == 0  # nothing is due yet
    assert http_server.seen == []

    clock.advance(timedelta(hours=1))
    await until(lambda: http_server.on("/ok"), timeout=5, what="the delayed call")
    await run_settles(api, later.id, "delivered")


@pytest.mark.parametrize(("policy", "expected"), [("skip", 0), ("once", 1), ("all", 10)])
async def test_missed_recurring_runs_follow_the_catch_up_policy_after_a_restart(
    api: Api, read_side: Any, settled: Any, runtime: Any, clock: FakeClock,
    http_server: Recorder, policy: str, expected: int,
) -> None:  # fmt: skip
    # Frozen 10 s past a minute mark: the scheduler plans 30 s ahead, so (t0, t0 + 30 s] holds
    # no mark, and after the restart at t0 + 10 min + grace exactly ten marks were missed.
    now = datetime.now(UTC)
    t0 = now.replace(second=0, microsecond=0) + timedelta(minutes=1, seconds=10)
    clock.freeze(t0)
    first = AutomationSide(runtime, clock=clock).start()
    assert first.validation is not None
    assert first.validation.ready.wait(30)
    try:
        action = await api.command(
            "create-action", name="Minute report", channel="webhook",
            template={"body": '{"at": "{{ schedule.at }}"}'},
            config={"url": f"{http_server.url}/ok"}, credentials={"secret": SECRET},
        )  # fmt: skip
        every_minute = await api.command(
            "attach-process-action", name="Every minute", action_id=action.id,
            trigger={"on": "schedule"}, schedule={"type": "cron", "cron": "* * * * *"},
            catch_up={"policy": policy, "window": "PT1H"},
        )  # fmt: skip
        await settled(every_minute.position)
        assert first.scheduler is not None
        ticks = first.scheduler.ticks
        await until(lambda: first.scheduler.ticks > ticks + 2, what="scheduler ticks")  # type: ignore[union-attr]
    finally:
        first.stop()
    before = {s.body for s in http_server.seen}

    clock.advance(timedelta(minutes=10, seconds=5))
    restarted = AutomationSide(runtime, clock=clock).start()
    try:
        if expected:
            await until(lambda: len(http_server.seen) - len(before) >= expected,
                        what=f"{expected} catch-up deliveries")  # fmt: skip
        assert restarted.scheduler is not None
        ticks = restarted.scheduler.ticks
        await until(lambda: restarted.scheduler.ticks > ticks + 10, what="more ticks")  # type: ignore[union-attr]
        fired = [json.loads(s.body)["at"] for s in http_server.seen if s.body not in before]
        assert len(fired) == expected
        if policy == "once":  # the latest missed mark
            assert fired == [(t0 + timedelta(seconds=590)).isoformat()]
    finally:
        restarted.stop()


async def test_entity_changes_and_stages_trigger_their_actions(
    api: Api, read_side: Any, automation: AutomationSide, http_server: Recorder
) -> None:
    site_type = await api.command(
        "define-entity-type", name="Pump",
        fields=[{"name": "title", "type": "text"}, {"name": "status", "type": "text"}],
    )  # fmt: skip
    action = await api.command(
        "create-action", name="Notify", channel="webhook",
        template={"body": '{"what": "{{ trigger.event }}"}'},
        config={"url": f"{http_server.url}/ok"}, credentials={"secret": SECRET},
    )  # fmt: skip
    broke = await api.command(
        "attach-process-action", name="Pump broke", action_id=action.id,
        trigger={"on": "entity_changed", "entity_type_id": site_type.id},
        condition={"changed_to": ["data.status", "broken"]},
    )  # fmt: skip
    reviewed = await api.command(
        "attach-process-action", name="Review started", action_id=action.id,
        trigger={"on": "stage_entered", "process_kind": "repair", "stage": "review"},
    )  # fmt: skip
    pump = await api.command(
        "create-entity", entity_type_id=site_type.id, data={"title": "P-7", "status": "ok"}
    )
    await api.command("update-entity", entity_id=pump.id, data={"title": "P-7 north"})
    await api.command("update-entity", entity_id=pump.id, data={"status": "broken"})
    await api.command("update-entity", entity_id=pump.id, data={"title": "P-7 (broken)"})
    repair = await api.command(
        "open-process", kind="repair", title="Fix P-7", stages=["new", "review", "done"]
    )
    await api.command("enter-stage", process_id=repair.id, stage="review")
    last = await api.command("enter-stage", process_id=repair.id, stage="done")

    await reactor_reached(automation, last.position)
    await run_settles(api, broke.id, "delivered")
    await run_settles(api, reviewed.id, "delivered")
    bodies = sorted(json.loads(s.body)["what"] for s in http_server.seen)
    assert bodies == ["Entity.Updated", "Process.StageEntered"]
    assert len(await runs_of(api, broke.id)) == 1  # only the change *to* broken

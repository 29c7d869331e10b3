"""The incident workflow end to end, on the injectable clock: a case triaged on Friday afternoon
under an SLA of 4 working hours is reminded at 80 % and breached on Monday, each exactly once,
across a scheduler restart; the reminder and the breach trigger their process actions, the
breach an escalation by email to each member of the `lead` role; taken to fixing, it is nudged
by SMS an hour later, once, because it is still there."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from automation.scheduler import SchedulerConfig
from domain.process import Process
from infra.automation import AutomationSide
from tests.conftest import Api, FakeClock
from tests.integration.test_workflow_steps import follow_up_setup
from tests.runs import until
from tests.servers import SECRET, Mailbox, Recorder
from tests.unit.commands.test_process_definitions import incident

PARIS = ZoneInfo("Europe/Paris")
FRIDAY_4PM = datetime(2026, 12, 4, 16, 0, tzinfo=PARIS)


@pytest.fixture
def scheduling(runtime: Any, clock: FakeClock) -> Iterator[list[AutomationSide]]:
    """Automation on the test's clock, which the commands share; restartable (the list holds
    the running side last)."""
    clock.freeze(FRIDAY_4PM)
    runtime.commands.clock = clock
    sides = [start(runtime, clock)]
    yield sides
    for side in sides:
        side.stop()


def start(runtime: Any, clock: FakeClock) -> AutomationSide:
    side = AutomationSide(runtime, clock=clock, scheduler_config=SchedulerConfig(tick=0.05))
    side.start()
    assert side.validation is not None
    assert side.validation.ready.wait(30)
    return side


async def webhook_on(api: Api, url: str, on: str) -> None:
    action = await api.command(
        "create-action", name=f"Tell {on}", channel="webhook",
        template={"body": '{"on": "' + on + '", "stage": "{{ process.stage }}"}'},
        config={"url": url}, credentials={"secret": SECRET},
    )  # fmt: skip
    await api.command(
        "attach-process-action", name=f"On {on}", action_id=action.id,
        trigger={"on": on, "process_kind": "incident", "stage": "triage"},
        schedule={"type": "immediate"},
    )  # fmt: skip


async def escalate_to_leads(api: Api, smtp_port: int) -> None:
    """On breach, an email to each member of the `lead` role, each a run of its own."""
    await api.command("define-role", name="lead", grants=["data:write", "read:*"])
    for actor, email in (("lea", "lea@acme.test"), ("leo", "leo@acme.test"), ("lin", None)):
        contact = await api.command("register-participant", name=actor, email=email)
        await api.command("set-member-roles", actor=actor, roles=["lead"],
                          participant_id=contact.id)  # fmt: skip
    action = await api.command(
        "create-action", name="Escalate", channel="email",
        template={"subject": "Breached: {{ process.title }}",
                  "body": "{{ recipient.name }}, {{ process.title }} is past its SLA."},
        config={"smtp_host": "127.0.0.1", "smtp_port": smtp_port, "from": "sla@acme.test"},
    )  # fmt: skip
    await api.command(
        "attach-process-action", name="Escalate to leads", action_id=action.id,
        trigger={"on": "sla_breached", "process_kind": "incident"},
        recipients=[{"role": "lead"}],
    )  # fmt: skip


async def test_the_reminder_and_the_breach_fire_once_each_at_their_time_across_a_restart(
    api: Api,
    runtime: Any,
    read_side: Any,
    settled: Any,
    clock: FakeClock,
    scheduling: list[AutomationSide],
    http_server: Recorder,
    smtp_server: tuple[Mailbox, int],
) -> None:
    mailbox, smtp_port = smtp_server
    await api.command("change-tenant-settings", settings={"timezone": "Europe/Paris"})
    await api.command("publish-process-definition", **incident())
    for on in ("sla_reminder", "sla_breached"):
        await webhook_on(api, f"{http_server.url}/{on}", on)
    await escalate_to_leads(api, smtp_port)
    await follow_up_setup(api, http_server.url)
    case = (await api.command("open-process", definition="incident", title="Outage")).id
    owner = await api.command("register-participant", name="Olly", phone="+31612345678")
    await api.command("assign-participant", process_id=case, participant_id=owner.id,
                      role="owner")  # fmt: skip
    moved = await api.command("move-process", process_id=case, transition="triage")
    await settled(moved.position)

    def fired() -> list[str]:
        return [call.path for call in http_server.seen if call.path != "/sms"]

    def timers() -> tuple[int, int, bool]:
        """The case's version (each timer recorded is one more), reminders left, breached."""
        process = runtime.store.find(Process, UUID(case))
        return process.version, len(process.sla_reminders), process.sla_breached

    clock.freeze(datetime(2026, 12, 7, 11, 11, tzinfo=PARIS))  # a minute before 80 %
    ticks = scheduling[-1].scheduler.ticks  # type: ignore[union-attr]
    await until(lambda: scheduling[-1].scheduler.ticks > ticks + 5, what="ticks")  # type: ignore[union-attr]
    assert (fired(), timers()) == ([], (3, 1, False))  # opened, staffed, triaged

    clock.freeze(datetime(2026, 12, 7, 11, 13, tzinfo=PARIS))
    await until(lambda: fired() == ["/sla_reminder"], what="the reminder's webhook")
    assert timers() == (4, 0, False)

    scheduling[-1].stop()  # downtime over the deadline: the next scheduler catches up
    clock.freeze(datetime(2026, 12, 7, 14, 0, tzinfo=PARIS))
    scheduling.append(start(runtime, clock))
    await until(lambda: len(fired()) == 2, what="the breach's webhook")
    assert fired() == ["/sla_reminder", "/sla_breached"]
    assert timers() == (5, 0, True)
    due = runtime.store.find(Process, UUID(case)).sla_due_at
    assert due == datetime(2026, 12, 7, 12, 0, tzinfo=PARIS)
    # The escalation: one mail per lead with an address (lin has none: its run fails).
    await until(lambda: len(mailbox.envelopes) == 2, what="two escalation mails")
    assert sorted(e.rcpt_tos[0] for e in mailbox.envelopes) == ["lea@acme.test", "leo@acme.test"]
    assert all(len(e.rcpt_tos) == 1 for e in mailbox.envelopes)
    assert b"lea, Outage is past its SLA." in b"".join(e.content for e in mailbox.envelopes)

    # A lead takes it to fixing at 14:00; an hour later it is still there: one SMS nudge.
    lead = api.mint("acme", "lead", actor="lea")
    await api.command("move-process", token=lead, process_id=case, transition="fix")
    clock.freeze(datetime(2026, 12, 7, 14, 59, tzinfo=PARIS))
    ticks = scheduling[-1].scheduler.ticks  # type: ignore[union-attr]
    await until(lambda: scheduling[-1].scheduler.ticks > ticks + 5, what="ticks")  # type: ignore[union-attr]
    assert http_server.on("/sms") == []
    clock.freeze(datetime(2026, 12, 7, 15, 1, tzinfo=PARIS))
    await until(lambda: len(http_server.on("/sms")) == 1, what="the follow-up SMS")

    settled_version = timers()[0]
    clock.advance(timedelta(days=3))
    ticks = scheduling[-1].scheduler.ticks  # type: ignore[union-attr]
    await until(lambda: scheduling[-1].scheduler.ticks > ticks + 5, what="ticks")  # type: ignore[union-attr]
    assert (len(fired()), timers()[0], len(mailbox.envelopes)) == (3, settled_version, 2)
    assert len(http_server.on("/sms")) == 1

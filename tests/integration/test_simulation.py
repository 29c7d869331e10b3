"""Simulating a process action over recorded history plans exactly what the live reactor
planned for the same rule and the same history: the same runs (their ids derive from the same
trigger keys), due at the same times — and nothing is planned, sent or stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from domain.action_run import ActionRun
from infra.automation import AutomationSide
from tests.conftest import Api
from tests.runs import graphql, run_settles, runs_of
from tests.servers import SECRET, Recorder
from tests.unit.commands.test_process_definitions import incident

SIMULATE = """query($pa: UUID, $proposal: ProcessActionProposal, $since: DateTime) {
  simulateProcessAction(processActionId: $pa, proposal: $proposal, since: $since) {
    valid errors { path message } eventsReplayed truncated
    runs { triggerKey plannedAt actionId event recordId recipientId step conditional } } }"""
SEVERE = {">=": [{"var": "data.severity"}, 3]}


async def webhook(api: Api, url: str, name: str) -> str:
    action = await api.command(
        "create-action", name=name, channel="webhook", template={"body": "{}"},
        config={"url": url}, credentials={"secret": SECRET},
    )  # fmt: skip
    return str(action.id)


def live_ids(runs: list[dict[str, Any]]) -> dict[UUID, str]:
    return {UUID(r["id"]): r["plannedAt"] for r in runs}


def simulated_ids(pa: str, runs: list[dict[str, Any]]) -> dict[UUID, str]:
    return {ActionRun.create_id(UUID(pa), r["triggerKey"]): r["plannedAt"] for r in runs}


async def test_a_simulation_plans_what_the_live_reactor_planned(
    api: Api, read_side: Any, automation: AutomationSide, settled: Any, http_server: Recorder
) -> None:
    await api.command("publish-process-definition", **incident())
    page = await webhook(api, f"{http_server.url}/page", "page")
    nudge = await webhook(api, f"{http_server.url}/nudge", "nudge")
    proposal = {
        "actionId": page,
        "trigger": {"on": "stage_entered", "process_kind": "incident", "stage": "triage"},
        "condition": SEVERE,
        "schedule": {"type": "relative", "to": "trigger", "offset": "PT10M"},
        "recipients": [{"process_role": "owner"}],
        "steps": [{"name": "again", "after": "PT2H", "action_id": nudge,
                   "if": {"==": [{"var": "stage"}, "triage"]}}],
    }  # fmt: skip
    attached = await api.command(
        "attach-process-action", name="Page owners", action_id=proposal["actionId"],
        trigger=proposal["trigger"], condition=SEVERE, schedule=proposal["schedule"],
        recipients=proposal["recipients"], steps=proposal["steps"],
    )  # fmt: skip
    pa = str(attached.id)
    for n, severity in enumerate([1, 4, 5, 2, 3]):
        case = await api.command("open-process", definition="incident", title=f"Case {n}",
                                 data={"severity": severity})  # fmt: skip
        for who in range(n % 3):  # 0, 1 or 2 owners
            owner = await api.command("register-participant", name=f"Owner {n}.{who}")
            await api.command("assign-participant", process_id=case.id, participant_id=owner.id,
                              role="owner")  # fmt: skip
        await api.command("move-process", process_id=case.id, transition="triage")
    # severities 4 (1 owner), 5 (2 owners), 3 (1 owner): a run per owner, a follow-up per case
    live = await run_settles(api, pa, "planned", count=7)
    await settled(api.event_count())

    by_id = (await graphql(api, SIMULATE, pa=pa))["simulateProcessAction"]
    proposed = (await graphql(api, SIMULATE, proposal=proposal))["simulateProcessAction"]
    for simulated in (by_id, proposed):
        assert (simulated["valid"], simulated["truncated"]) == (True, False)
        assert simulated["eventsReplayed"] == 5  # the stage entries, not the openings
        assert simulated_ids(pa, simulated["runs"]) == live_ids(live)
        assert sum(r["conditional"] for r in simulated["runs"]) == 3
    assert len(await runs_of(api, pa)) == 7  # the simulations planned nothing

    later = datetime.now(UTC) + timedelta(minutes=5)
    window = await graphql(api, SIMULATE, pa=pa, since=later.isoformat())
    assert window["simulateProcessAction"]["runs"] == []


async def test_a_faulty_proposal_is_an_answer_with_paths(
    api: Api, read_side: Any, automation: AutomationSide
) -> None:
    page = await webhook(api, "https://example.invalid/hook", "page")
    faulty = {"actionId": page, "trigger": {"on": "stage_entered", "process_kind": "incident"},
              "steps": [{"name": "x", "after": "soon", "action_id": page}]}  # fmt: skip
    answer = (await graphql(api, SIMULATE, proposal=faulty))["simulateProcessAction"]
    assert answer["valid"] is False
    assert answer["errors"] == [
        {"path": ["steps", 0, "after"],
         "message": "must be an ISO 8601 duration like PT15M, P1D or -P1DT2H"}
    ]  # fmt: skip

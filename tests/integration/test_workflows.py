"""Workflows end to end: a definition published over HTTP, cases opened and moved by its
transitions, refusals that explain themselves, approvals, a new version beside running cases,
and the read side's definitions, pinned versions and available transitions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.integration.test_graphql import GraphQL, serving
from tests.unit.commands.test_process_definitions import incident


@pytest.fixture
async def graphql(runtime: Any, api: Any, read_side: Any) -> AsyncIterator[GraphQL]:
    async with serving(runtime, api.token) as client:
        yield client


async def staffed(api: Any) -> dict[str, str]:
    await api.command("publish-process-definition", **incident())
    for name in ("lead", "reviewer"):
        await api.command("define-role", name=name, grants=["data:write", "read:*"])
    return {
        "editor": api.mint("acme", "editor", actor="eddy"),
        "lead": api.mint("acme", "lead", actor="lea"),
        "ann": api.mint("acme", "reviewer", actor="ann"),
        "bob": api.mint("acme", "reviewer", actor="bob"),
    }


CASE = """query($id: UUID!) { process(id: $id) {
    stage kind definitionKey definitionVersion approvals
    definition { version stages { name slaWithin slaBusinessHours approval { count role } } }
    availableTransitions { name to available blockers { reason message trace } }
    stageHistory { stage previous transition }
} }"""


async def test_a_case_moves_only_by_its_transitions_and_says_why_not(api, graphql, settled):
    tokens = await staffed(api)
    opened = await api.command(
        "open-process", definition="incident", title="Checkout down", data={"severity": 2}
    )
    case = opened.id
    await api.command("move-process", token=tokens["editor"], process_id=case, transition="triage")

    refused = await api.post("move-process", {"process_id": case, "transition": "fix"},
                             tokens["editor"])  # fmt: skip
    assert refused.status == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.body["title"] == "Guard failed"
    assert refused.body["trace"]["op"] == "or"
    assert refused.body["trace"]["children"][0]["children"][0] == {
        "op": "var", "path": "/or/0/>=/0", "value": 2, "children": []
    }  # fmt: skip
    forbidden = await api.post("move-process", {"process_id": case, "transition": "drop"},
                               tokens["editor"])  # fmt: skip
    assert (forbidden.status, forbidden.body["detail"]) == (403, "only lead may take 'drop'")
    stale = await api.post("move-process", {"process_id": case, "transition": "submit"},
                           tokens["editor"])  # fmt: skip
    assert stale.status == 409

    await settled(api.event_count())
    seen = (await graphql.data(CASE, {"id": case}, token=tokens["editor"]))["process"]
    assert (seen["stage"], seen["kind"], seen["definitionKey"], seen["definitionVersion"]) == (
        "triage", "incident", "incident", 1
    )  # fmt: skip
    assert seen["definition"]["stages"][1] == {
        "name": "triage", "slaWithin": "PT4H", "slaBusinessHours": True, "approval": None
    }  # fmt: skip
    options = {o["name"]: o for o in seen["availableTransitions"]}
    assert sorted(options) == ["drop", "fix"]  # those leaving triage
    assert [b["reason"] for b in options["fix"]["blockers"]] == ["guard"]
    assert options["fix"]["blockers"][0]["trace"]["op"] == "or"
    assert [b["reason"] for b in options["drop"]["blockers"]] == ["role"]
    as_lead = (await graphql.data(CASE, {"id": case}, token=tokens["lead"]))["process"]
    assert {o["name"]: o["available"] for o in as_lead["availableTransitions"]} == {
        "fix": True, "drop": True
    }  # fmt: skip

    await api.command("move-process", token=tokens["lead"], process_id=case, transition="fix")
    missing = await api.post("move-process", {"process_id": case, "transition": "submit"},
                             tokens["editor"])  # fmt: skip
    assert (missing.status, missing.body["detail"]) == (422, "set summary first")
    await api.command("set-process-data", process_id=case, data={"summary": "disk full"})
    await api.command("move-process", process_id=case, transition="submit")
    await api.command("approve-process", token=tokens["ann"], process_id=case)
    again = await api.post("approve-process", {"process_id": case}, tokens["ann"])
    assert again.status == 409
    await settled(api.event_count())
    waiting = (await graphql.data(CASE, {"id": case}, token=tokens["ann"]))["process"]
    assert (waiting["stage"], waiting["approvals"]) == ("review", ["ann"])
    last = await api.command("approve-process", token=tokens["bob"], process_id=case)

    await settled(last.position)
    closed = (await graphql.data(CASE, {"id": case}, token=tokens["editor"]))["process"]
    assert closed["stage"] == "closed"
    assert closed["stageHistory"] == [
        {"stage": "new", "previous": None, "transition": None},
        {"stage": "triage", "previous": "new", "transition": "triage"},
        {"stage": "fixing", "previous": "triage", "transition": "fix"},
        {"stage": "review", "previous": "fixing", "transition": "submit"},
        {"stage": "closed", "previous": "review", "transition": None},  # the approvals'
    ]
    timeline = """query($id: UUID!) { process(id: $id) { timeline {
        kind actor command fields stage transition } } }"""
    items = (await graphql.data(timeline, {"id": case}))["process"]["timeline"]
    assert [(i["kind"], i["actor"], i["stage"], i["transition"]) for i in items] == [
        ("Opened", "tester", "new", None),
        ("StageEntered", "eddy", "triage", "triage"),
        ("StageEntered", "lea", "fixing", "fix"),
        ("DataSet", "tester", None, None),
        ("StageEntered", "tester", "review", "submit"),
        ("Approved", "ann", None, None),
        ("Approved", "bob", None, None),
        ("StageEntered", "bob", "closed", None),
    ]
    assert (items[3]["command"], items[3]["fields"]) == ("set-process-data", ["summary"])


async def test_a_new_version_leaves_running_cases_alone_until_migrated(api, graphql, settled):
    await api.command("publish-process-definition", **incident())
    running = (await api.command("open-process", definition="incident", title="Old")).id
    two = incident(name="Incident (assessed)", stages=["new", "assessing", "closed"],
                   transitions=[{"name": "assess", "from": "new", "to": "assessing"}])  # fmt: skip
    await api.command("publish-process-definition", **two)
    fresh = (await api.command("open-process", definition="incident", title="New")).id

    refused = await api.post("migrate-process", {"process_id": running}, api.token)
    assert refused.status == 422
    assert sorted(e["pointer"] for e in refused.body["errors"]) == [
        "/mapping/fixing", "/mapping/review", "/mapping/triage"
    ]  # fmt: skip
    await settled(api.event_count())
    query = """query($a: UUID!, $b: UUID!) {
        old: process(id: $a) { definitionVersion stages availableTransitions(all: true) { name } }
        new: process(id: $b) { definitionVersion stages }
        processDefinitions { key name latestVersion versions { version name } }
    }"""
    seen = await graphql.data(query, {"a": running, "b": fresh})
    assert seen["old"]["definitionVersion"] == 1
    assert [t["name"] for t in seen["old"]["availableTransitions"]] == [
        "triage", "fix", "submit", "drop"
    ]  # fmt: skip
    assert (seen["new"]["definitionVersion"], seen["new"]["stages"]) == (
        2, ["new", "assessing", "closed"]
    )  # fmt: skip
    assert seen["processDefinitions"] == [
        {
            "key": "incident",
            "name": "Incident (assessed)",
            "latestVersion": 2,
            "versions": [
                {"version": 1, "name": "Incident"},
                {"version": 2, "name": "Incident (assessed)"},
            ],
        }
    ]
    mapping = {"triage": "assessing", "fixing": "assessing", "review": "assessing"}
    migrated = await api.command("migrate-process", process_id=running, mapping=mapping)
    await settled(migrated.position)
    after = (await graphql.data(query, {"a": running, "b": fresh}))["old"]
    assert (after["definitionVersion"], after["stages"]) == (2, ["new", "assessing", "closed"])
    assert [t["name"] for t in after["availableTransitions"]] == ["assess"]


BOARD = """{ processBoard(definition: "incident") {
    definition { version }
    columns { stage count overdue processes { title sla { breached businessHours remaining } } }
} }"""


async def test_the_board_shows_each_stage_with_overdue_cases_first(
    api, graphql, settled, runtime, clock
):
    await api.command("publish-process-definition", **incident())
    runtime.commands.clock = clock
    for title, entered in (("late", datetime(2026, 11, 2, 9, tzinfo=UTC)), ("fresh", None)):
        if entered is None:
            clock.frozen = None
        else:
            clock.freeze(entered)
        case = await api.command("open-process", definition="incident", title=title)
        await api.command("move-process", process_id=case.id, transition="triage")
    last = await api.command("open-process", definition="incident", title="waiting")
    await settled(last.position)

    board = (await graphql.data(BOARD))["processBoard"]
    assert board["definition"] == {"version": 1}
    columns = {c["stage"]: c for c in board["columns"]}
    assert [c["stage"] for c in board["columns"]] == ["new", "triage", "fixing", "review", "closed"]
    assert (columns["new"]["count"], columns["review"]["count"]) == (1, 0)
    triage = columns["triage"]
    assert (triage["count"], triage["overdue"]) == (2, 1)
    late, fresh = triage["processes"]
    assert (late["title"], fresh["title"]) == ("late", "fresh")
    assert late["sla"]["businessHours"] is True
    assert late["sla"]["remaining"].startswith("-P")  # overdue by weeks of working time
    assert not fresh["sla"]["remaining"].startswith("-")
    assert columns["new"]["processes"][0]["sla"] is None
    assert (await graphql.data('{ processBoard(definition: "nope") { columns { stage } } }')) == {
        "processBoard": None
    }


async def test_a_timeline_leaves_out_the_fields_a_reader_may_not_see(api, graphql, settled):
    await api.command("publish-process-definition", **incident())
    await api.command("define-role", name="outsider",
                      grants=[{"read": "processes", "hide": ["severity"]}])  # fmt: skip
    case = (await api.command("open-process", definition="incident", title="Leak")).id
    changed = await api.command(
        "set-process-data", process_id=case, data={"severity": 4, "summary": "pipe"}
    )
    await settled(changed.position)
    query = "query($id: UUID!) { process(id: $id) { data timeline { kind fields } } }"
    outsider = api.mint("acme", "outsider", actor="olaf")
    seen = (await graphql.data(query, {"id": case}, token=outsider))["process"]
    assert seen["data"] == {"summary": "pipe"}
    assert seen["timeline"][-1] == {"kind": "DataSet", "fields": ["summary"]}
    full = (await graphql.data(query, {"id": case}))["process"]["timeline"][-1]
    assert full == {"kind": "DataSet", "fields": ["severity", "summary"]}


async def test_simulating_a_definition_counts_the_visits_its_slas_would_judge(
    api, graphql, settled
):
    await api.command("publish-process-definition", **incident())
    for title in ("one", "two"):
        case = (await api.command("open-process", definition="incident", title=title)).id
        last = await api.command("move-process", process_id=case, transition="triage")
    await settled(last.position)
    query = """query($proposal: JSON, $version: Int) {
        simulateDefinition(key: "incident", proposal: $proposal, version: $version) {
        valid errors { path message } cases stages { stage slaWithin visits breached ongoing }
        transitions { transition taken refused unjudged }
    } }"""
    published = (await graphql.data(query, {"version": 1}))["simulateDefinition"]
    assert (published["valid"], published["cases"]) == (True, 2)
    stages = {s["stage"]: s for s in published["stages"]}
    assert stages["new"] == {"stage": "new", "slaWithin": None, "visits": 2, "breached": 0,
                             "ongoing": 0}  # fmt: skip
    assert (stages["triage"]["visits"], stages["triage"]["ongoing"]) == (2, 2)
    assert published["transitions"][0] == {
        "transition": "triage", "taken": 2, "refused": 0, "unjudged": 0
    }  # fmt: skip
    guarded = incident()
    del guarded["key"]
    one = {">=": [{"var": "data.severity"}, 3]}
    guarded["transitions"] = [
        {"name": "triage", "from": "new", "to": "triage", "guard": one},
        {"name": "drop", "from": "new", "to": "closed",
         "guard": {"in": ["lead", {"var": "me.roles"}]}},
    ]  # fmt: skip
    judged = (await graphql.data(query, {"proposal": guarded}))["simulateDefinition"]
    assert judged["transitions"] == [
        {"transition": "triage", "taken": 2, "refused": 2, "unjudged": 0},  # no severity then
        {"transition": "drop", "taken": 0, "refused": 0, "unjudged": 0},
    ]
    faulty = incident(stages=["new", {"name": "triage", "sla": {"within": "soon"}}])
    del faulty["key"]
    refused = (await graphql.data(query, {"proposal": faulty}))["simulateDefinition"]
    assert refused["valid"] is False
    assert ["stages", 1, "sla", "within"] in [e["path"] for e in refused["errors"]]


async def test_a_cases_data_is_searchable_as_its_definition_weighs_it(api, graphql, settled):
    spec = incident(fields=[
        {"name": "severity", "type": "integer"},
        {"name": "summary", "type": "text", "searchable": "B"},
        {"name": "secret", "type": "text", "searchable": "C"},
        {"name": "internal", "type": "text"},
    ])  # fmt: skip
    await api.command("publish-process-definition", **spec)
    case = (await api.command("open-process", definition="incident", title="Checkout down",
                              data={"summary": "payment gateway timeout"})).id  # fmt: skip
    await api.command("set-process-data", process_id=case,
                      data={"secret": "quokka", "internal": "wombat"})  # fmt: skip
    free = await api.command("open-process", kind="incident", title="Free case",
                             stages=["a"], data={"summary": "gateway"})  # fmt: skip
    await api.command("define-role", name="partial",
                      grants=[{"read": "processes", "hide": ["secret"]}])  # fmt: skip
    await settled(api.event_count())
    search = "query($q: String!) { search(query: $q, kinds: [PROCESS]) { edges { node { id } } } }"

    async def found(words: str, token: str | None = None) -> list[str]:
        answer = await graphql.data(search, {"q": words}, **({"token": token} if token else {}))
        return [edge["node"]["id"] for edge in answer["search"]["edges"]]

    assert await found("gatway") == [case]  # a typo; the free case's data is not indexed
    assert await found("quokka") == [case]
    assert await found("wombat") == []  # not marked searchable
    partial = api.mint("acme", "partial", actor="pat")
    assert await found("quokka", partial) == []  # a hidden field finds nothing…
    assert await found("gateway", partial) == []  # …and its case shows no snippet of it
    assert await found("free case", partial) == [free.id]

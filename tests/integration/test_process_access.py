"""Row rules and hidden fields on processes: a role that reads only the audits at review where
its reader takes part (the token's `participant_id`), without their fee, on every read path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import psycopg
import pytest

from projections.processes.queries import ProcessReads
from tests.integration.test_graphql import GraphQL, serving

MINE = {"in": [{"var": "me.participant_id"}, {"var": "participants"}]}
AUDITS_I_REVIEW = {
    "read": "processes",
    "types": ["Audit"],  # kinds match in any case, as the automation's do
    "where": {"and": [MINE, {"==": [{"var": "stage"}, "review"]}]},
    "hide": ["fee"],
}
PROCESS = "id title kind stage data participants { participantId }"
LIST = (
    f"{{ processes {{ edges {{ node {{ {PROCESS} }} }} }} counts {{ processes openProcesses }} }}"
)


@pytest.fixture
async def graphql(runtime: Any, api: Any, read_side: Any) -> AsyncIterator[GraphQL]:
    async with serving(runtime, api.token) as client:
        yield client


async def audits(api: Any, settled: Any) -> dict[str, str]:
    """Four processes; only "mine" is an audit, at review, with ivy taking part."""
    ivy = (await api.command("register-participant", name="Ivy")).id
    bo = (await api.command("register-participant", name="Bo")).id
    ids = {"ivy": ivy, "bo": bo}
    for name, kind, stage, who in (
        ("mine", "audit", "review", ivy),
        ("drafted", "audit", "draft", ivy),
        ("theirs", "audit", "review", bo),
        ("claim", "claim", "review", ivy),
    ):
        opened = await api.command(
            "open-process",
            kind=kind,
            title=f"Lisbon {name}",
            stages=["draft", "review"],
            data={"site": "lisbon", "fee": 990_001},
        )
        ids[name] = opened.id
        await api.command("assign-participant", process_id=opened.id, participant_id=who,
                          role="auditor")  # fmt: skip
        if stage == "review":
            await api.command("enter-stage", process_id=opened.id, stage="review")
    for name in ("mine", "theirs"):
        attached = await api.upload("process", ids[name], f"{name} report".encode())
        assert attached.status_code == 200, attached.text
        ids[f"{name}-doc"] = attached.json()["id"]
        recorded = await api.command(
            "record-occurrence", kind="visit", occurred_at="2026-11-24T10:00:00+00:00",
            process_id=ids[name],
        )  # fmt: skip
        ids[f"{name}-visit"] = recorded.id
    defined = await api.command(
        "define-role",
        name="auditor",
        grants=[AUDITS_I_REVIEW, "read:documents", "read:occurrences", "read:participants"],
    )
    await settled(defined.position)
    return ids


def auditor(api: Any, participant_id: str | None, actor: str = "ivy") -> str:
    claims = {"participant_id": participant_id} if participant_id else {}
    return str(api.runtime.tokens.mint("acme", ["auditor"], actor=actor, claims=claims))


async def test_a_reader_sees_only_the_processes_its_rule_shows_on_every_path(api, graphql, settled):
    ids = await audits(api, settled)
    ivy = auditor(api, ids["ivy"].upper())  # a token may spell the id in capitals
    seen = await graphql.data(LIST, token=ivy)
    assert seen["processes"]["edges"] == [
        {
            "node": {
                "id": ids["mine"],
                "title": "Lisbon mine",
                "kind": "audit",
                "stage": "review",
                "data": {"site": "lisbon"},  # the fee is hidden
                "participants": [{"participantId": ids["ivy"]}],
            }
        }
    ]
    assert seen["counts"] == {"processes": 1, "openProcesses": 1}  # its own count
    # The same query from another participant: its own answer, never a kept one.
    bo = await graphql.data(LIST, token=auditor(api, ids["bo"], actor="bo"))
    assert [e["node"]["id"] for e in bo["processes"]["edges"]] == [ids["theirs"]]
    assert (await graphql.data(LIST, token=auditor(api, None, "cy")))["processes"]["edges"] == []
    filtered = await graphql.data(
        'query($p: UUID!) { processes(filter: {participantId: $p, stage: "review"}) '
        "{ edges { node { id } } } }",
        {"p": ids["ivy"]},
        token=ivy,
    )
    assert [e["node"]["id"] for e in filtered["processes"]["edges"]] == [ids["mine"]]

    by_id = """query($id: UUID!) { process(id: $id) { id data stageHistory { stage }
        documents { id } } }"""
    for name in ("drafted", "theirs", "claim"):
        assert (await graphql.data(by_id, {"id": ids[name]}, token=ivy))["process"] is None, name
    mine = (await graphql.data(by_id, {"id": ids["mine"]}, token=ivy))["process"]
    assert mine == {
        "id": ids["mine"],
        "data": {"site": "lisbon"},
        "stageHistory": [{"stage": "draft"}, {"stage": "review"}],
        "documents": [{"id": ids["mine-doc"]}],
    }

    # References: an occurrence's process is there only when the rule shows it.
    visit = "query($id: UUID!) { occurrence(id: $id) { process { id data } } }"
    theirs = await graphql.data(visit, {"id": ids["theirs-visit"]}, token=ivy)
    assert theirs["occurrence"] == {"process": None}
    shown = await graphql.data(visit, {"id": ids["mine-visit"]}, token=ivy)
    assert shown["occurrence"]["process"] == {"id": ids["mine"], "data": {"site": "lisbon"}}
    # Search and past states follow the rule too.
    hits = await graphql.data(
        '{ search(query: "Lisbon") { edges { node { kind id } } } }', token=ivy
    )
    assert [e["node"] for e in hits["search"]["edges"]] == [{"kind": "PROCESS", "id": ids["mine"]}]
    past = "query($id: UUID!) { recordAt(id: $id, position: 1000000) { state } }"
    then = await graphql.data(past, {"id": ids["mine"]}, token=ivy)
    assert then["recordAt"]["state"]["data"] == {"site": "lisbon"}
    assert (await graphql.data(past, {"id": ids["theirs"]}, token=ivy))["recordAt"] is None

    # Documents follow the process they are attached to: listed, by id and downloaded.
    papers = await graphql.data(
        "query($id: UUID!) { documents { edges { node { id } } } document(id: $id) { id } }",
        {"id": ids["theirs-doc"]},
        token=ivy,
    )
    assert papers == {"documents": {"edges": [{"node": {"id": ids["mine-doc"]}}]}, "document": None}
    for name, status in (("theirs-doc", 404), ("mine-doc", 200)):
        got = await api.http.get(
            f"/v1/documents/{ids[name]}", headers={"Authorization": f"Bearer {ivy}"}
        )
        assert got.status_code == status, (name, got.text)
    assert (await api.http.get(
        f"/v1/documents/{ids['theirs-doc']}", headers={"Authorization": f"Bearer {api.token}"}
    )).status_code == 200  # fmt: skip

    # An admin still sees every process, fees included.
    everything = await graphql.data(LIST)
    assert len(everything["processes"]["edges"]) == 4
    assert all(e["node"]["data"]["fee"] == 990_001 for e in everything["processes"]["edges"])
    assert everything["counts"] == {"processes": 4, "openProcesses": 4}


async def test_stage_history_is_read_only_for_processes_the_rule_shows(api, graphql, settled):
    ids = await audits(api, settled)
    await graphql.data("{ counts { processes } }")  # the app's pool is open from here on
    reads_api = graphql.services.api
    viewer = reads_api.authenticate(f"Bearer {auditor(api, ids['ivy'])}")
    async with reads_api.session(viewer.tenant_id, reader=viewer) as reads:
        history = await reads.of(ProcessReads).stage_history(
            [UUID(ids[name]) for name in ("mine", "drafted", "theirs", "claim")]
        )
    assert list(history) == [UUID(ids["mine"])]


async def test_the_participants_rule_is_served_by_the_participants_index(database_url):
    with psycopg.connect(database_url) as conn:
        conn.execute("SET enable_seqscan = off")  # an empty table would be scanned anyway
        plan = conn.execute(
            "EXPLAIN SELECT id FROM rm_processes.processes WHERE (participants ? %s)", ("x",)
        ).fetchall()
    assert "processes_participants" in "\n".join(row[0] for row in plan)


@pytest.mark.parametrize(
    ("grant", "path", "message"),
    [
        (
            {"read": "processes", "where": {"==": [{"var": "participants"}, "x"]}},
            ["grants", 0, "where", "==", 0],
            "is a set",
        ),
        (
            {"read": "entities", "where": {"==": [{"var": "stage"}, "review"]}},
            ["grants", 0, "where", "==", 0, "var"],
            "a rule on entities uses data.<field>, title, created_at, updated_at, me.actor",
        ),
        (
            {"read": "processes", "where": {"==": [{"var": "region"}, 1]}},
            ["grants", 0, "where", "==", 0, "var"],
            "kind, stage, status, title, opened_at, updated_at, due_at, closed_at, participants",
        ),
        (
            {"read": "processes", "where": {"<": [{"var": "due_at"}, 1]}},
            ["grants", 0, "where", "<", 1],
            "'due_at' is a time",
        ),
        ({"read": "processes", "hide": ["Fee'"]}, ["grants", 0, "hide", 0], "field name"),
        ({"read": "processes", "types": "audit"}, ["grants", 0, "types"], "list of names"),
        (
            {"read": "groups", "where": MINE},
            ["grants", 0, "read"],
            "entities, occurrences, processes",
        ),
    ],
)
async def test_a_bad_process_grant_is_refused_with_its_path(api, grant, path, message):
    refused = await api.post("define-role", {"name": "r", "grants": [grant]})
    assert refused.status == 422, refused.body
    [error] = refused.body["errors"]
    assert error["path"] == path
    assert message in error["message"]

"""Groups, participants, processes, occurrences, documents and counts: commands in, rows out.

Every read goes through the query classes on a connection that reads as `bsdflow_reader` with
the tenant set by `SET LOCAL`, so the same checks prove that row-level security lets the
tenant's own rows through (and a test checks that it lets nothing else through).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg

from domain.ids import tenant_id_for
from eventstore import decode_event
from projections.apply import Delivered, apply_batch, create_schema
from projections.base import Projection
from projections.counts.queries import CountReads
from projections.documents.queries import DocumentReads
from projections.entities.queries import EntityFilter, EntityReads
from projections.groups.queries import GroupReads
from projections.occurrences.queries import OccurrenceFilter, OccurrenceReads
from projections.paging import Page
from projections.participants.queries import ParticipantReads
from projections.processes.queries import ProcessFilter, ProcessReads
from projections.registry import PROJECTIONS

ACME = tenant_id_for("acme")
MINE = ("groups", "participants", "processes", "occurrences", "documents", "counts")


@asynccontextmanager
async def reading(database_url: str, tenant: UUID | None = ACME) -> AsyncIterator[Any]:
    """A transaction as the API reads: the reader role, the tenant set for this transaction."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn, conn.transaction():
        await conn.execute("SET LOCAL ROLE bsdflow_reader")
        if tenant is not None:
            await conn.execute("SELECT set_config('bsdflow.tenant_id', %s, true)", (str(tenant),))
        yield conn


def ids(page: Page[Any]) -> list[str]:
    return [str(row.id) for row in page.items]


async def all_pages(fetch: Any, first: int) -> list[list[str]]:
    """Every page of a listing, following the cursors to the end."""
    pages, after = [], None
    while True:
        page = await fetch(first=first, after=after)
        pages.append(ids(page))
        if not page.has_next:
            return pages
        after = page.end_cursor


async def site_entity(api: Any, title: str = "Jerusalem") -> str:
    site = await api.command(
        "define-entity-type",
        name=f"Site{uuid4().hex[:6]}",
        fields=[{"name": "title", "type": "text", "required": True}],
    )
    return (await api.command("create-entity", entity_type_id=site.id, data={"title": title})).id


async def test_groups_and_participants(api, database_url, settled):
    entity = await site_entity(api)
    alice = await api.command(
        "register-participant", name="Alice", email="alice@example.com", external_ref="HR-1"
    )
    bot = await api.command("register-participant", name="Sync bot", kind="system")
    bob = await api.command("register-participant", name="Bob")
    await api.command("update-participant", participant_id=alice.id,
                      changes={"name": "Alice Smith", "email": "smith@example.com"})  # fmt: skip
    team = await api.command("create-group", name="Field team", description="Out and about")
    await api.command("add-group-members", group_id=team.id, entity_ids=[entity],
                      participant_ids=[alice.id, bob.id])  # fmt: skip
    await api.command("remove-group-members", group_id=team.id, participant_ids=[bob.id])
    await api.command("rename-group", group_id=team.id, name="Field crew")
    office = await api.command("create-group", name="Office")
    last = await api.command("add-group-members", group_id=office.id, participant_ids=[alice.id])
    await settled(last.position)

    async with reading(database_url) as conn:
        groups, people = GroupReads(conn), ParticipantReads(conn)
        crew = (await groups.by_ids([UUID(team.id)]))[UUID(team.id)]
        assert (crew.name, crew.description, crew.version) == ("Field crew", "Out and about", 4)
        assert (crew.entity_ids, crew.participant_ids) == ([UUID(entity)], [UUID(alice.id)])
        assert await groups.groups_of([UUID(alice.id), UUID(bob.id), UUID(entity)]) == {
            UUID(alice.id): sorted([UUID(team.id), UUID(office.id)]),
            UUID(entity): [UUID(team.id)],
        }
        assert ids(await groups.page(name_prefix="FIELD")) == [team.id]
        assert ids(await groups.page(name_prefix="f%")) == []  # a prefix, not a pattern
        assert await all_pages(groups.page, first=1) == [[office.id], [team.id]]

        smith = (await people.by_ids([UUID(alice.id)]))[UUID(alice.id)]
        assert (smith.name, smith.email, smith.external_ref, smith.version) == (
            "Alice Smith", "smith@example.com", "HR-1", 2,
        )  # fmt: skip
        assert ids(await people.page(kind="person")) == [bob.id, alice.id]
        assert ids(await people.page(group_id=UUID(team.id))) == [alice.id]
        assert await all_pages(people.page, first=2) == [[bob.id, bot.id], [alice.id]]
        members = await EntityReads(conn).page(EntityFilter(group_id=UUID(team.id)))
        assert ids(members) == [entity]

    for tenant in (uuid4(), None):  # another tenant, or no tenant at all: nothing visible
        async with reading(database_url, tenant) as conn:
            assert await GroupReads(conn).by_ids([UUID(team.id)]) == {}
            assert (await ParticipantReads(conn).page()).items == []
            assert await GroupReads(conn).groups_of([UUID(alice.id)]) == {}


async def test_processes_occurrences_documents_and_counts(api, database_url, settled):
    entity = await site_entity(api)
    archived = await site_entity(api, "Jericho")
    await api.command("archive-entity", entity_id=archived)
    alice = await api.command("register-participant", name="Alice")
    bob = await api.command("register-participant", name="Bob")
    due = datetime(2030, 1, 1, tzinfo=UTC)
    stages = ["new", "review", "done"]
    p1 = await api.command("open-process", kind="inspection", title="Site A", stages=stages,
                           due_at=(due + timedelta(days=9)).isoformat(), data={"site": "A"})  # fmt: skip
    p2 = await api.command("open-process", kind="audit", title="Books", stages=["a", "b"])
    p3 = await api.command("open-process", kind="inspection", title="Site B", stages=stages)
    for command, body in [
        ("enter-stage", {"stage": "review"}),
        ("enter-stage", {"stage": "done"}),
        ("assign-participant", {"participant_id": alice.id, "role": "lead"}),
        ("assign-participant", {"participant_id": bob.id, "role": "helper"}),
        ("unassign-participant", {"participant_id": bob.id}),
        ("link-process-entity", {"entity_id": entity}),
        ("set-process-due", {"due_at": due.isoformat()}),
        ("close-process", {"outcome": "passed"}),
    ]:
        await api.command(command, process_id=p1.id, **body)
    await api.command("enter-stage", process_id=p3.id, stage="review")

    o1 = await api.command("record-occurrence", kind="visit", occurred_at="2024-01-01T09:00:00Z",
                           location={"lat": 31.77, "lon": 35.21}, process_id=p1.id,
                           entity_ids=[entity], participant_ids=[alice.id], data={"n": 1})  # fmt: skip
    o2 = await api.command("record-occurrence", kind="incident", occurred_at="2024-03-01T09:00:00Z")
    o3 = await api.command("record-occurrence", kind="visit", occurred_at="2024-02-01T09:00:00Z")
    await api.command("retract-occurrence", occurrence_id=o3.id, reason="duplicate")

    d1 = await api.attach("process", p1.id, b"valve corroded\n", "Valve notes")
    d2 = await api.attach("process", p1.id, b"draft\n", "Draft")
    d3 = await api.attach("entity", entity, b"site plan\n", "Plan")
    await api.command("rename-document", document_id=d1["id"], title="Valve report")
    last = await api.command("remove-document", document_id=d2["id"])
    await settled(last.position)

    async with reading(database_url) as conn:
        await check_processes(ProcessReads(conn), p1.id, p2.id, p3.id, alice.id, entity, due)
        await check_occurrences(OccurrenceReads(conn), o1.id, o2.id, o3.id, p1.id, entity, alice.id)
        documents = DocumentReads(conn)
        found = await documents.by_ids([UUID(d1["id"]), UUID(d2["id"])])
        report, draft = found[UUID(d1["id"])], found[UUID(d2["id"])]
        assert (report.title, report.version, report.size, report.target_kind) == (
            "Valve report", 2, len(b"valve corroded\n"), "process",
        )  # fmt: skip
        assert report.content_type.startswith("text/plain")
        assert len(report.sha256) == 64
        assert draft.removed
        by_target = await documents.for_targets([UUID(p1.id), UUID(entity), UUID(p2.id)])
        assert {k: [str(d.id) for d in v] for k, v in by_target.items()} == {
            UUID(p1.id): [d1["id"]], UUID(entity): [d3["id"]],
        }  # fmt: skip
        assert ids(await documents.page(target_id=UUID(p1.id))) == [d1["id"]]
        assert await all_pages(documents.page, first=1) == [[d3["id"]], [d1["id"]]]
        assert await CountReads(conn).all() == {
            "entities": 1, "entity_types": 2, "groups": 0, "participants": 2,
            "processes": 3, "open_processes": 2, "occurrences": 2, "documents": 2,
        }  # fmt: skip

    for name in MINE:
        assert_replays_change_nothing(database_url, PROJECTIONS[name])


async def check_processes(reads, p1, p2, p3, alice, entity, due) -> None:
    row = (await reads.by_ids([UUID(p1)]))[UUID(p1)]
    assert (row.kind, row.title, row.stages, row.stage, row.status, row.outcome) == (
        "inspection", "Site A", ["new", "review", "done"], "done", "closed", "passed",
    )  # fmt: skip
    assert (row.participants, row.entity_ids, row.due_at, row.data) == (
        {alice: "lead"}, [UUID(entity)], due, {"site": "A"},
    )  # fmt: skip
    assert row.closed_at is not None
    assert row.version == 9
    history = await reads.stage_history([UUID(p1), UUID(p3)])
    assert [(v.stage, v.previous) for v in history[UUID(p1)]] == [
        ("new", None), ("review", "new"), ("done", "review"),
    ]  # fmt: skip
    assert [(v.stage, v.previous) for v in history[UUID(p3)]] == [("new", None), ("review", "new")]
    positions = [v.position for v in history[UUID(p1)]]
    assert positions == sorted(positions)

    opened = (await reads.by_ids([UUID(p2)]))[UUID(p2)].opened_at
    for where, expected in [
        (ProcessFilter(), [p3, p2, p1]),
        (ProcessFilter(kind="inspection"), [p3, p1]),
        (ProcessFilter(stage="review"), [p3]),
        (ProcessFilter(status="open"), [p3, p2]),
        (ProcessFilter(participant_id=UUID(alice)), [p1]),
        (ProcessFilter(entity_id=UUID(entity)), [p1]),
        (ProcessFilter(due_before=due + timedelta(seconds=1)), [p1]),
        (ProcessFilter(opened_after=opened), [p3, p2]),
        (ProcessFilter(opened_before=opened), [p1]),
        (ProcessFilter(kind="inspection", status="open"), [p3]),
    ]:
        assert ids(await reads.page(where)) == expected, where
    pages = await all_pages(lambda **kw: reads.page(ProcessFilter(), **kw), first=2)
    assert pages == [[p3, p2], [p1]]


async def check_occurrences(reads, o1, o2, o3, p1, entity, alice) -> None:
    row = (await reads.by_ids([UUID(o1)]))[UUID(o1)]
    assert (row.kind, row.lat, row.lon, row.process_id, row.data, row.retracted) == (
        "visit", 31.77, 35.21, UUID(p1), {"n": 1}, None,
    )  # fmt: skip
    assert (row.entity_ids, row.participant_ids) == ([UUID(entity)], [UUID(alice)])
    assert row.occurred_at == datetime(2024, 1, 1, 9, tzinfo=UTC)
    assert (await reads.by_ids([UUID(o3)]))[UUID(o3)].retracted == "duplicate"
    feb = datetime(2024, 2, 1, tzinfo=UTC)
    for where, expected in [
        (OccurrenceFilter(), [o2, o1]),
        (OccurrenceFilter(include_retracted=True), [o2, o3, o1]),
        (OccurrenceFilter(kind="visit", include_retracted=True), [o3, o1]),
        (OccurrenceFilter(process_id=UUID(p1)), [o1]),
        (OccurrenceFilter(entity_id=UUID(entity)), [o1]),
        (OccurrenceFilter(occurred_after=feb), [o2]),
        (OccurrenceFilter(occurred_before=feb), [o1]),
    ]:
        assert ids(await reads.page(where)) == expected, where
    everything = OccurrenceFilter(include_retracted=True)
    pages = await all_pages(lambda **kw: reads.page(everything, **kw), first=2)
    assert pages == [[o2, o3], [o1]]


def assert_replays_change_nothing(database_url: str, projection: Projection) -> None:
    """The whole event store applied into a fresh schema, half of it first, then all of it
    twice (as a redelivering broker would): the tables equal the live ones every time."""
    schema = f"replay_{projection.name}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        create_schema(conn, projection, schema)
        stored = conn.execute(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM bsdflow_events ORDER BY notification_id"
        ).fetchall()
        batch = [
            Delivered(decode_event(n, o, v, t, bytes(s)), "replay", 0, offset)
            for offset, (n, o, v, t, s) in enumerate(stored)
        ]
        apply_batch(conn, projection, batch[: len(batch) // 2], schema=schema)
        apply_batch(conn, projection, batch, schema=schema)
        once = table_contents(conn, projection, schema)
        result = apply_batch(conn, projection, batch, schema=schema)
        assert (result.applied, result.skipped) == (0, len(batch))
        assert table_contents(conn, projection, schema) == once
        assert table_contents(conn, projection, projection.schema) == once, projection.name


def table_contents(conn: psycopg.Connection[Any], projection: Projection, schema: str) -> dict:
    return {
        table: conn.execute(f"SELECT t::text FROM {schema}.{table} t ORDER BY 1").fetchall()
        for table in projection.tables
    }


async def test_a_reopened_process_reads_open_again(api, database_url, settled):
    case = await api.command("open-process", kind="audit", title="Books", stages=["a", "b"])
    await api.command("enter-stage", process_id=case.id, stage="b")
    await api.command("close-process", process_id=case.id, outcome="passed")
    last = await api.command("reopen-process", process_id=case.id, reason="missed a ledger")
    await settled(last.position)
    async with reading(database_url) as conn:
        row = (await ProcessReads(conn).by_ids([UUID(case.id)]))[UUID(case.id)]
        assert (row.status, row.stage, row.outcome, row.closed_at) == ("open", "b", None, None)
        assert (await CountReads(conn).all())["open_processes"] == 1

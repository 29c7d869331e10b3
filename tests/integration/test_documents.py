"""Documents: bytes stored content-addressed on disk, metadata as events, size-limited."""

from __future__ import annotations

import asyncio
import hashlib
from uuid import UUID

import psycopg

from domain.document import Document
from tests.integration.test_group_commit import waiting_on_a_lock
from tests.runs import until

PROBLEM = "application/problem+json"


async def test_content_is_stored_under_its_sha256(api):
    opened = await api.command("open-process", kind="audit", title="A", stages=["a"])
    content = b"Inspection notes: the valve on floor 2 is corroded.\n"
    reply = await api.upload("process", opened.id, content, title="Valve notes")
    assert reply.status_code == 200, reply.text
    digest = hashlib.sha256(content).hexdigest()
    assert api.runtime.blobs.read(digest) == content
    document = api.runtime.store.find(Document, UUID(reply.json()["id"]))
    assert (document.sha256, document.size, document.title, document.filename) == (
        digest,
        len(content),
        "Valve notes",
        "notes.txt",
    )
    assert document.is_text
    assert list(api.runtime.blobs.staging.iterdir()) == []


async def test_the_same_content_twice_is_stored_once(api):
    opened = await api.command("open-process", kind="audit", title="A", stages=["a"])
    for _ in range(2):
        assert (await api.upload("process", opened.id, b"same bytes")).status_code == 200
    stored = [
        p for p in api.runtime.blobs.root.rglob("*") if p.is_file() and ".staging" not in p.parts
    ]
    assert len(stored) == 1


async def test_too_large_is_413_and_nothing_is_stored(api):
    opened = await api.command("open-process", kind="audit", title="A", stages=["a"])
    before = api.event_count()
    too_big = b"x" * (api.runtime.settings.max_document_bytes + 1)
    reply = await api.upload("process", opened.id, too_big)
    assert reply.status_code == 413
    assert reply.headers["content-type"] == PROBLEM
    assert api.event_count() == before
    assert not any(p.is_file() for p in api.runtime.blobs.root.rglob("*"))


async def test_unknown_target_stores_neither_bytes_nor_events(api):
    before = api.event_count()
    reply = await api.upload("process", "00000000-0000-4000-8000-000000000001", b"orphan?")
    assert reply.status_code == 404
    assert reply.json()["errors"][0]["path"] == ["target_id"]
    assert api.event_count() == before
    assert not any(p.is_file() for p in api.runtime.blobs.root.rglob("*"))


async def test_bad_form_field_is_422_with_path(api):
    reply = await api.upload("process", "not-a-uuid", b"x")
    assert reply.status_code == 422
    assert reply.json()["errors"][0]["path"] == ["target_id"]


async def test_a_failed_upload_in_another_tenant_leaves_shared_bytes_alone(api):
    opened = await api.command("open-process", kind="audit", title="A", stages=["a"])
    shared = b"the same bytes in two tenants\n"
    await api.attach("process", opened.id, shared)
    platform = api.mint("platform", "platform")
    await api.command("create-tenant", token=platform, slug="globex", name="Globex")
    api.token = api.mint("globex", "admin")

    refused = await api.upload("process", "00000000-0000-4000-8000-000000000001", shared)

    assert refused.status_code == 404
    assert api.runtime.blobs.read(hashlib.sha256(shared).hexdigest()) == shared


async def test_an_upload_that_fails_after_storing_its_bytes_leaves_them_for_others(api):
    """Tenant B's upload stores new bytes X, then fails (its Idempotency-Key was taken while it
    waited); tenant A's document of the same X, written meanwhile, must keep its bytes."""
    theirs = await api.command("open-process", kind="audit", title="B", stages=["a"])
    platform = api.mint("platform", "platform")
    await api.command("create-tenant", token=platform, slug="globex", name="Globex")
    globex = api.mint("globex", "admin")
    ours = await api.command("open-process", token=globex, kind="audit", title="A", stages=["a"])
    content = b"bytes both tenants upload at once\n"
    store = api.runtime.store
    database_url = api.runtime.urls.database_url

    def upload(token: str, target: str, key: str | None = None):
        headers = {"Authorization": f"Bearer {token}"} | ({"Idempotency-Key": key} if key else {})
        return api.http.post(
            "/v1/commands/attach-document",
            headers=headers,
            data={"target_kind": "process", "target_id": target},
            files={"file": ("x.txt", content, "text/plain")},
        )

    with psycopg.connect(database_url) as blocker:
        blocker.execute("LOCK TABLE bsdflow_events IN EXCLUSIVE MODE")
        first = asyncio.create_task(
            api.post("register-participant", {"name": "Ada"}, headers={"Idempotency-Key": "k1"})
        )
        await until(lambda: waiting_on_a_lock(database_url))
        loser = asyncio.create_task(upload(api.token, theirs.id, key="k1"))
        await until(lambda: store.queued_writes == 1)
        winner = asyncio.create_task(upload(globex, ours.id))
        await until(lambda: store.queued_writes == 2)
        blocker.commit()

    assert (await first).status == 200
    assert (await loser).status_code == 422  # the key now belongs to register-participant
    assert (await winner).status_code == 200
    assert api.runtime.blobs.read(hashlib.sha256(content).hexdigest()) == content

"""Documents: bytes stored content-addressed on disk, metadata as events, size-limited."""

from __future__ import annotations

import hashlib
from uuid import UUID

PROBLEM = "application/problem+json"


async def test_content_is_stored_under_its_sha256(api):
    opened = await api.command("open-process", kind="audit", title="A", stages=["a"])
    content = b"Inspection notes: the valve on floor 2 is corroded.\n"
    reply = await api.upload("process", opened.id, content, title="Valve notes")
    assert reply.status_code == 200, reply.text
    digest = hashlib.sha256(content).hexdigest()
    assert api.runtime.blobs.read(digest) == content
    document = api.runtime.application.repository.get(UUID(reply.json()["id"]))
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

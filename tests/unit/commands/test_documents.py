"""Document commands in memory: attach (bytes to the blob store, text to the event), rename,
remove."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from commands.auth import Forbidden
from commands.service import IdempotencyKeyReused
from domain.document import MAX_TEXT, Document
from domain.errors import Conflict, InvalidInput, NotFound

CONTENT = b"Inspection report\nall clear"


def a_process(handle, tenant="acme") -> str:
    body = {"kind": "audit", "title": "Site A", "stages": ["new"]}
    return str(handle.given("open-process", tenant=tenant, **body).id)


def attached(handle, content=CONTENT, **body) -> str:
    upload = handle.staged(content, "report.txt", "text/plain")
    target = {"target_kind": "process", "target_id": a_process(handle)}
    return str(handle.given("attach-document", upload=upload, **target, **body).id)


def stored(handle, content: bytes) -> bool:
    """Whether the blob store holds `content` at its address."""
    return handle.blobs.path_of(hashlib.sha256(content).hexdigest()).exists()


def test_attaching_stores_the_bytes_and_records_their_metadata_and_text(handle):
    process_id = a_process(handle)
    upload = handle.staged(CONTENT, "report.txt", "text/plain")
    answer = handle("attach-document", target_kind="process", target_id=process_id, upload=upload)
    assert handle.then == ["Document.Attached"]
    assert (answer.version, answer.position) == (1, 3)
    document = handle.load(Document, answer.id)
    assert (document.target_kind, str(document.target_id)) == ("process", process_id)
    assert (document.title, document.filename, document.content_type) == (
        "report.txt",
        "report.txt",
        "text/plain",
    )
    assert (document.size, document.sha256) == (len(CONTENT), hashlib.sha256(CONTENT).hexdigest())
    assert (document.removed, document.is_text) == (False, True)
    assert handle.events[0].data["text"] == "Inspection report\nall clear"
    assert handle.blobs.read(document.sha256) == CONTENT


def test_a_document_can_be_attached_to_an_entity_or_an_occurrence(handle):
    site = handle.given("define-entity-type", name="Site", fields=[{"name": "t", "type": "text"}])
    entity = handle.given("create-entity", entity_type_id=site.id, data={}).id
    at = datetime(2026, 3, 1, tzinfo=UTC)
    occurrence = handle.given("record-occurrence", kind="visit", occurred_at=at).id
    for kind, target in (("entity", entity), ("occurrence", occurrence)):
        upload = handle.staged(kind.encode())
        handle("attach-document", target_kind=kind, target_id=target, upload=upload)
    assert handle.then == ["Document.Attached", "Document.Attached"]
    assert [(e.data["target_kind"], e.data["target_id"]) for e in handle.events] == [
        ("entity", str(entity)),
        ("occurrence", str(occurrence)),
    ]


def test_a_title_is_trimmed_and_a_filename_loses_its_slashes(handle):
    upload = handle.staged(CONTENT, "../etc\\passwd", "text/plain")
    answer = handle(
        "attach-document",
        target_kind="process",
        target_id=a_process(handle),
        title="  Report  ",
        upload=upload,
    )
    document = handle.load(Document, answer.id)
    assert (document.title, document.filename) == ("Report", ".._etc_passwd")


def test_a_binary_upload_is_stored_without_text(handle):
    content = bytes(range(256))
    upload = handle.staged(content, "scan.pdf", "application/pdf")
    handle("attach-document", target_kind="process", target_id=a_process(handle), upload=upload)
    assert handle.events[0].data["text"] is None
    assert handle.blobs.read(hashlib.sha256(content).hexdigest()) == content


def test_an_upload_without_a_content_type_is_an_octet_stream_without_text(handle):
    upload = handle.staged(b"plain words", "notes", "")
    answer = handle(
        "attach-document", target_kind="process", target_id=a_process(handle), upload=upload
    )
    assert handle.load(Document, answer.id).content_type == "application/octet-stream"
    assert handle.events[0].data["text"] is None


def test_json_is_text_like_and_its_text_is_extracted(handle):
    upload = handle.staged(b'{"a": 1}', "a.json", "application/json")
    handle("attach-document", target_kind="process", target_id=a_process(handle), upload=upload)
    assert handle.events[0].data["text"] == '{"a": 1}'


def test_extracted_text_replaces_bytes_that_are_not_utf8_and_drops_nul(handle):
    upload = handle.staged(b"caf\xc3\xa9\x00 ok \xff", "a.txt", "text/plain")
    handle("attach-document", target_kind="process", target_id=a_process(handle), upload=upload)
    assert handle.events[0].data["text"] == "café ok \ufffd"


def test_extracted_text_is_capped(handle):
    upload = handle.staged(b"a" * MAX_TEXT + b"tail", "big.txt", "text/plain")
    answer = handle(
        "attach-document", target_kind="process", target_id=a_process(handle), upload=upload
    )
    assert handle.events[0].data["text"] == "a" * MAX_TEXT
    assert handle.load(Document, answer.id).size == MAX_TEXT + 4


def test_the_same_content_attached_twice_is_two_documents_sharing_one_blob(handle):
    first, second = attached(handle), attached(handle)
    assert first != second
    one, two = handle.load(Document, first), handle.load(Document, second)
    assert one.sha256 == two.sha256
    assert handle.blobs.read(one.sha256) == CONTENT


def test_a_viewer_may_not_attach_and_the_bytes_are_not_stored(handle):
    process_id = a_process(handle)
    upload = handle.staged(CONTENT)
    with pytest.raises(Forbidden):
        handle(
            "attach-document",
            as_role="viewer",
            target_kind="process",
            target_id=process_id,
            upload=upload,
        )
    assert handle.then == []
    assert not stored(handle, CONTENT)


def test_attaching_without_a_file_is_refused(handle):
    with pytest.raises(InvalidInput, match="multipart field 'file'") as refused:
        handle("attach-document", target_kind="process", target_id=a_process(handle))
    assert refused.value.path == ("file",)
    assert handle.then == []


def test_an_unknown_target_kind_is_refused_and_the_bytes_are_not_stored(handle):
    upload = handle.staged(CONTENT)
    with pytest.raises(InvalidInput, match="process, entity, occurrence") as refused:
        handle("attach-document", target_kind="group", target_id=uuid4(), upload=upload)
    assert refused.value.path == ("target_kind",)
    assert handle.then == []
    assert not stored(handle, CONTENT)


def test_another_tenants_target_is_not_found_and_the_bytes_are_not_stored(handle):
    handle.given("create-tenant", as_role="platform", slug="globex", name="Globex")
    theirs = a_process(handle, tenant="globex")
    upload = handle.staged(CONTENT)
    with pytest.raises(NotFound, match="no process with this id") as refused:
        handle("attach-document", target_kind="process", target_id=theirs, upload=upload)
    assert refused.value.path == ("target_id",)
    assert handle.then == []
    assert not stored(handle, CONTENT)


def test_a_target_of_another_kind_is_not_found(handle):
    process_id = a_process(handle)
    with pytest.raises(NotFound, match="no entity with this id") as refused:
        handle(
            "attach-document",
            target_kind="entity",
            target_id=process_id,
            upload=handle.staged(CONTENT),
        )
    assert refused.value.path == ("target_id",)
    assert handle.then == []


@pytest.mark.parametrize(
    ("filename", "title", "path"),
    [("   ", None, ("file",)), ("a.txt", "   ", ("title",)), ("a.txt", "t" * 201, ("title",))],
)
def test_a_blank_filename_or_a_bad_title_is_refused_before_the_bytes_are_stored(
    handle, filename, title, path
):
    upload = handle.staged(CONTENT, filename)
    with pytest.raises(InvalidInput, match="characters") as refused:
        handle(
            "attach-document",
            target_kind="process",
            target_id=a_process(handle),
            title=title,
            upload=upload,
        )
    assert refused.value.path == path
    assert handle.then == []
    assert not stored(handle, CONTENT)


def test_an_idempotent_retry_of_an_attach_stores_one_document(handle):
    target = {"target_kind": "process", "target_id": a_process(handle)}
    first = handle("attach-document", idempotency_key="k1", upload=handle.staged(CONTENT), **target)
    again = handle("attach-document", idempotency_key="k1", upload=handle.staged(CONTENT), **target)
    assert again == first
    assert handle.then == ["Document.Attached", "CommandReceipt.Issued"]


def test_an_idempotency_key_reused_with_another_file_is_refused(handle):
    target = {"target_kind": "process", "target_id": a_process(handle)}
    handle.given("attach-document", idempotency_key="k1", upload=handle.staged(CONTENT), **target)
    with pytest.raises(IdempotencyKeyReused) as refused:
        handle(
            "attach-document", idempotency_key="k1", upload=handle.staged(b"other bytes"), **target
        )
    assert refused.value.path == ("Idempotency-Key",)
    assert handle.then == []
    assert not stored(handle, b"other bytes")


def test_renaming_a_document_changes_its_title_only(handle):
    document_id = attached(handle)
    answer = handle("rename-document", document_id=document_id, title=" Final ", expected_version=1)
    assert handle.then == ["Document.Renamed"]
    assert answer.version == 2
    document = handle.load(Document, document_id)
    assert (document.title, document.filename) == ("Final", "report.txt")


def test_renaming_to_a_blank_title_is_refused(handle):
    document_id = attached(handle)
    with pytest.raises(InvalidInput) as refused:
        handle("rename-document", document_id=document_id, title=" ")
    assert refused.value.path == ("title",)
    assert handle.then == []


def test_renaming_with_a_stale_expected_version_is_a_conflict(handle):
    document_id = attached(handle)
    handle.given("rename-document", document_id=document_id, title="Draft")
    with pytest.raises(Conflict, match="expected version 1, but it is at 2") as refused:
        handle("rename-document", document_id=document_id, title="Final", expected_version=1)
    assert refused.value.path == ("expected_version",)
    assert handle.then == []
    assert handle.load(Document, document_id).title == "Draft"


def test_renaming_another_tenants_document_is_not_found(handle):
    document_id = attached(handle)
    handle.given("create-tenant", as_role="platform", slug="globex", name="Globex")
    with pytest.raises(NotFound, match="no document with this id") as refused:
        handle("rename-document", tenant="globex", document_id=document_id, title="Ours")
    assert refused.value.path == ("document_id",)
    assert handle.then == []


def test_a_viewer_may_not_rename_a_document(handle):
    document_id = attached(handle)
    with pytest.raises(Forbidden):
        handle("rename-document", as_role="viewer", document_id=document_id, title="Final")
    assert handle.then == []


def test_a_removed_document_cannot_be_renamed(handle):
    document_id = attached(handle)
    handle.given("remove-document", document_id=document_id)
    with pytest.raises(Conflict):
        handle("rename-document", document_id=document_id, title="Final")
    assert handle.then == []


def test_removing_a_document_keeps_its_history_and_its_bytes(handle):
    document_id = attached(handle)
    answer = handle("remove-document", document_id=document_id, expected_version=1)
    assert handle.then == ["Document.Removed"]
    assert answer.version == 2
    document = handle.load(Document, document_id)
    assert (document.removed, document.title) == (True, "report.txt")
    assert handle.blobs.read(document.sha256) == CONTENT


def test_removing_twice_is_a_conflict(handle):
    document_id = attached(handle)
    handle.given("remove-document", document_id=document_id)
    with pytest.raises(Conflict, match="already removed"):
        handle("remove-document", document_id=document_id)
    assert handle.then == []


def test_removing_with_a_stale_expected_version_is_a_conflict(handle):
    document_id = attached(handle)
    handle.given("rename-document", document_id=document_id, title="Draft")
    with pytest.raises(Conflict, match="expected version 1") as refused:
        handle("remove-document", document_id=document_id, expected_version=1)
    assert refused.value.path == ("expected_version",)
    assert handle.then == []
    assert handle.load(Document, document_id).removed is False


def test_removing_a_missing_document_is_not_found(handle):
    with pytest.raises(NotFound, match="no document with this id") as refused:
        handle("remove-document", document_id=uuid4())
    assert refused.value.path == ("document_id",)
    assert handle.then == []


def test_removing_another_tenants_document_is_not_found(handle):
    document_id = attached(handle)
    handle.given("create-tenant", as_role="platform", slug="globex", name="Globex")
    with pytest.raises(NotFound) as refused:
        handle("remove-document", tenant="globex", document_id=document_id)
    assert refused.value.path == ("document_id",)
    assert handle.then == []
    assert handle.load(Document, document_id).removed is False


def test_a_viewer_may_not_remove_a_document(handle):
    document_id = attached(handle)
    with pytest.raises(Forbidden):
        handle("remove-document", as_role="viewer", document_id=document_id)
    assert handle.then == []

"""Document commands: file bytes go to the content-addressed store, metadata to events."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from commands.context import CommandContext, Recorded
from commands.ports import StagedBlob
from commands.registry import Command, CommandSpec
from domain.document import MAX_TEXT, Document, is_text_like
from domain.entity import Entity
from domain.errors import InvalidInput
from domain.occurrence import Occurrence
from domain.process import Process
from eventstore import Aggregate

TARGETS: dict[str, type[Aggregate]] = {
    "process": Process,
    "entity": Entity,
    "occurrence": Occurrence,
}


def extracted_text(upload: StagedBlob) -> str | None:
    """The searchable text of a text-like upload, read from its staged copy.

    At most 4 bytes per character are read, enough for MAX_TEXT characters of any UTF-8 text;
    bytes that are not UTF-8 become U+FFFD rather than refusing the file.
    """
    if not is_text_like(upload.content_type):
        return None
    with upload.path.open("rb") as staged:
        head = staged.read(MAX_TEXT * 4)
    return head.decode("utf-8", errors="replace")[:MAX_TEXT]


class AttachDocument(Command):
    """Attach a file (multipart field `file`) to a process, entity or occurrence."""

    target_kind: str
    target_id: UUID
    title: str | None = None


def attach_document(cmd: AttachDocument, ctx: CommandContext) -> Recorded:
    upload = ctx.upload
    if upload is None:
        raise InvalidInput("send the file as multipart field 'file'", ("file",))
    target = TARGETS.get(cmd.target_kind)
    if target is None:
        raise InvalidInput(f"must be one of {', '.join(TARGETS)}", ("target_kind",))
    ctx.load(target, cmd.target_id, path=("target_id",))
    document = Document.attach(
        ctx.tenant_id,
        cmd.target_kind,
        cmd.target_id,
        upload.filename,
        upload.content_type,
        upload.size,
        upload.sha256,
        cmd.title,
        extracted_text(upload),
    )
    # Bytes first, so no stored event names bytes that are not on disk. They are never taken
    # back when the save fails: another tenant's upload of the same content may have found them
    # there meanwhile and been stored (content addressing shares one file). Bytes left by a
    # failed save are reused by the next upload of that content.
    ctx.blobs.promote(upload)
    return ctx.save(document)


class RenameDocument(Command):
    """Change a document's title."""

    document_id: UUID
    title: str
    expected_version: int | None = None


def rename_document(cmd: RenameDocument, ctx: CommandContext) -> Recorded:
    document = ctx.load(Document, cmd.document_id, cmd.expected_version, ("document_id",))
    document.rename(cmd.title)
    return ctx.save(document)


class RemoveDocument(Command):
    """Detach a document (its metadata history is kept)."""

    document_id: UUID
    expected_version: int | None = None


def remove_document(cmd: RemoveDocument, ctx: CommandContext) -> Recorded:
    document = ctx.load(Document, cmd.document_id, cmd.expected_version, ("document_id",))
    document.remove()
    return ctx.save(document)


SPECS: list[CommandSpec[Any]] = [
    CommandSpec("attach-document", AttachDocument, attach_document, "data:write", upload=True),
    CommandSpec("rename-document", RenameDocument, rename_document, "data:write"),
    CommandSpec("remove-document", RemoveDocument, remove_document, "data:write"),
]

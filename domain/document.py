"""Document: a file attached to a process, entity or occurrence.

The bytes live in a content-addressed store (by sha256); the events record metadata, plus the
extracted text of text-like files (capped) so the read side can make it searchable without ever
reading the blob store.
"""

from __future__ import annotations

import re
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, InvalidInput
from domain.names import clean_name

TARGET_KINDS = ("process", "entity", "occurrence")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
TEXT_LIKE = ("text/", "application/json", "application/xml", "application/x-yaml")
MAX_TEXT = 100_000
"""Characters of a text-like file's content kept in the Attached event (for search)."""


def is_text_like(content_type: str) -> bool:
    return content_type.startswith(TEXT_LIKE)


def searchable_text(content_type: str, text: str | None) -> str | None:
    """At most MAX_TEXT characters, only for text-like files; NUL cannot be stored in PostgreSQL."""
    if text is None or not is_text_like(content_type):
        return None
    return text[:MAX_TEXT].replace("\x00", "")


class Document(Aggregate):
    @event("Attached")
    def __init__(
        self,
        tenant_id: UUID,
        target_kind: str,
        target_id: UUID,
        title: str,
        filename: str,
        content_type: str,
        size: int,
        sha256: str,
        text: str | None = None,  # absent from events stored before text was extracted
    ) -> None:
        # `text` is kept in the event only: the aggregate never needs it to decide anything.
        self.tenant_id = tenant_id
        self.target_kind = target_kind
        self.target_id = target_id
        self.title = title
        self.filename = filename
        self.content_type = content_type
        self.size = size
        self.sha256 = sha256
        self.removed = False

    @classmethod
    def attach(
        cls,
        tenant_id: UUID,
        target_kind: str,
        target_id: UUID,
        filename: str,
        content_type: str,
        size: int,
        sha256: str,
        title: str | None = None,
        text: str | None = None,
    ) -> Document:
        if target_kind not in TARGET_KINDS:
            raise InvalidInput(f"must be one of {', '.join(TARGET_KINDS)}", ("target_kind",))
        if not SHA256.match(sha256):
            raise InvalidInput("not a sha256 digest", ("sha256",))
        filename = clean_name(filename.replace("/", "_").replace("\\", "_"), ("file",), 255)
        return cls(
            tenant_id=tenant_id,
            target_kind=target_kind,
            target_id=target_id,
            title=clean_name(title or filename, ("title",)),
            filename=filename,
            content_type=content_type or "application/octet-stream",
            size=size,
            sha256=sha256,
            text=searchable_text(content_type or "", text),
        )

    @property
    def is_text(self) -> bool:
        return is_text_like(self.content_type)

    def rename(self, title: str) -> None:
        if self.removed:
            raise Conflict("document is removed")
        self._renamed(clean_name(title, ("title",)))

    @event("Renamed")
    def _renamed(self, title: str) -> None:
        self.title = title

    def remove(self) -> None:
        if self.removed:
            raise Conflict("document is already removed")
        self._removed()

    @event("Removed")
    def _removed(self) -> None:
        self.removed = True

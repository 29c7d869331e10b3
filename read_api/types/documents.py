"""Documents: file metadata attached to entities, processes and occurrences."""

from __future__ import annotations

from uuid import UUID

import strawberry

from projections.documents.queries import DOCUMENT, DocumentReads, DocumentRow
from read_api.types.common import (
    DEFAULT_PAGE,
    Connection,
    Info,
    RowType,
    connection,
    field,
    page_size,
)


@strawberry.type(description="A file attached to an entity, a process or an occurrence.")
class Document(DocumentRow, RowType[DocumentRow]):
    @field(
        "Where its content is downloaded: GET this path of the API with the same bearer token "
        "(Range requests supported)."
    )
    def download_url(self) -> str:
        return f"/v1/documents/{self.id}"


async def documents_of(info: Info, target_id: UUID) -> list[Document]:
    """A target's live documents, batched across every target in the response."""
    return [
        Document.of(row)
        for row in await info.context.loaders.lists(DocumentReads, DocumentReads.for_targets).load(
            target_id
        )
    ]


@strawberry.type
class DocumentQuery:
    @field("One document by id (removed ones too, flagged).")
    async def document(self, info: Info, id: UUID) -> Document | None:
        row = await info.context.loaders.of(DOCUMENT).load(id)
        return Document.of(row) if row else None

    @field("Live documents, newest first; optionally of one target.")
    async def documents(
        self,
        info: Info,
        first: int = DEFAULT_PAGE,
        after: str | None = None,
        target_id: UUID | None = None,
    ) -> Connection[Document]:
        size = page_size(first)
        page = await info.context.run(
            lambda reads: reads.of(DocumentReads).page(size, after, target_id=target_id)
        )
        return connection(page, Document.of)

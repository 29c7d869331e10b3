"""Which document a reader may download: one it may read, attached to a record it may read."""

from __future__ import annotations

from uuid import UUID

from projections.documents.queries import DocumentReads, DocumentRow
from read_api.context import ReadApi
from read_api.errors import Forbidden
from read_api.ports import Viewer


async def readable_document(api: ReadApi, viewer: Viewer, document_id: UUID) -> DocumentRow | None:
    """The document, or None when it does not exist, was removed, or the reader may not read it
    or the record it is attached to (its area, or a row rule hiding that record: the reader's
    document reads follow its reads of what they are attached to)."""
    async with api.session(viewer.tenant_id, reader=viewer) as reads:
        try:
            found = (await reads.of(DocumentReads).by_ids([document_id])).get(document_id)
        except Forbidden:
            return None
    return None if found is None or found.removed else found
